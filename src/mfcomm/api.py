"""The public API's own function, :func:`evaluate` (``mfcomm.evaluate``); the rest of ``import mfcomm`` is
:func:`mfcomm.config.files.configure`, :func:`mfcomm.experiment.runs.train`, :func:`~mfcomm.experiment.runs.save`,
:func:`~mfcomm.experiment.runs.load` and :mod:`mfcomm.channels`, which the package names (lazily) at its top."""

from __future__ import annotations

from typing import Any

from mfcomm.channels.contract import as_channel
from mfcomm.channels.spec import has_noise
from mfcomm.config.fields import EVAL_BATCH
from mfcomm.evaluation.ser import learned_errors, monte_carlo
from mfcomm.experiment.run import Run
from mfcomm.experiment.session import torch_threads
from mfcomm.experiment.snr_sweep import default_range, ser_sweep
from mfcomm.experiment.tasks import TASKS
from mfcomm.learning.seeding import run_generator


def evaluate(
    run: Run,
    snr_db: list[float] | None = None,
    channel: object | None = None,
    target_errors: int = 1000,
    max_messages: int = 10_000_000,
    quiet: bool = True,
) -> list[dict[str, Any]]:
    """SER of a trained run, one row per Es/N0 (``snr_db``, default 10 dB below to 6 dB above the training
    point) with 95% Clopper-Pearson intervals and the same-rate classical baseline, as ``mfcomm evaluate``
    writes them to ``ser.csv``. On a channel that brings its own noise, or on ``channel`` (an object or a
    function ``y = f(x)``, as :func:`train` takes), one row: ``ser``, ``ci_low``, ``ci_high``, ``errors``,
    ``messages``. A bits run: one row per Eb/N0 of its ``eval_ebno_db`` with ``bmd_rate`` and Gray QAM's
    ``baseline_bmd_rate`` on AWGN (the coded BER/BLER is ``mfcomm evaluate DIR``). Every random number comes from
    generators seeded by the run's seed, on the CPU threads it trained on: the same call gives the same rows."""
    with run_generator(run.cfg), torch_threads(run.threads or run.cfg.threads):
        if run.cfg.task == "bits":
            return _bmd_rates(run)
        return _ser(run, snr_db, channel, target_errors, max_messages, quiet)


def _bmd_rates(run: Run) -> list[dict[str, Any]]:
    """The bits run's BMD rate and Gray QAM's at its ``eval_ebno_db``."""
    TASKS["bits"].evaluate(run, None, quiet=True)
    baseline = run.baseline_bmd_rate or {}
    return [{"ebno_db": e, "bmd_rate": r, "baseline_bmd_rate": baseline.get(e)} for e, r in run.bmd_rate.items()]


def _ser(
    run: Run, snr_db: list[float] | None, channel: object | None, target_errors: int, max_messages: int, quiet: bool
) -> list[dict[str, Any]]:
    """The symbols run's SER rows of :func:`evaluate`."""
    if channel is not None:
        est = monte_carlo(learned_errors(run.tx, run.rx, as_channel(channel)), target_errors, EVAL_BATCH, max_messages)
        return [{"ser": est.ser, "ci_low": est.ci_low, "ci_high": est.ci_high, "errors": est.errors,
                 "messages": est.messages}]  # fmt: skip
    spec = run.cfg.channel
    points = (snr_db or default_range(run)) if has_noise(spec) else None
    return ser_sweep(run, points, spec, target_errors, max_messages, quiet)

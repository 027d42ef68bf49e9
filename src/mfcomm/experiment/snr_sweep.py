"""SER versus SNR of a trained run, beside the classical baseline (``mfcomm evaluate``).

Example
-------
>>> parse_range("0:10:5")
[0.0, 5.0, 10.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from mfcomm.channels.contract import Channel
from mfcomm.channels.spec import has_fading, has_noise, is_black_box, is_chain, make_channel
from mfcomm.config.checks import check_number
from mfcomm.config.fields import EVAL_BATCH, Config
from mfcomm.conventions import snr_db_to_ebno_db, snr_db_to_n0
from mfcomm.errors import ConfigError, shown
from mfcomm.evaluation.ser import learned_errors, monte_carlo
from mfcomm.experiment.run import Run
from mfcomm.experiment.run_directory import write_csv
from mfcomm.plots import Curve, plot_ser
from mfcomm.system.baselines import Baseline, baseline_errors, classical_baseline, closed_form_ser, coherent_bound


def parse_range(text: str, quantity: str = "SNR") -> list[float]:
    """``A:B:STEP`` (B included) or a single value ``A`` -> list of floats; errors name the range as ``quantity``
    (``"Eb/N0"`` for ``--ebno-db``).

    >>> parse_range("8:4:1", "Eb/N0")
    Traceback (most recent call last):
    ...
    mfcomm.errors.ConfigError: Eb/N0 range '8:4:1': need A <= B and STEP > 0
    """
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        raise ConfigError(f"{quantity} range {shown(text)}: expected A:B:STEP of numbers") from None
    if len(parts) == 1:
        parts = [parts[0], parts[0], 1.0]
    if len(parts) != 3 or not all(math.isfinite(p) for p in parts):
        raise ConfigError(f"{quantity} range {shown(text)}: expected A:B:STEP of finite numbers")
    a, b, step = parts
    for value in (a, b):
        check_number(f"{quantity} range {shown(text)}: each end", value, -100.0, 100.0)
    if step <= 0 or b < a:
        raise ConfigError(f"{quantity} range {shown(text)}: need A <= B and STEP > 0")
    count = math.floor((b - a) / step + 1e-9) + 1
    if count > 200:
        raise ConfigError(f"{quantity} range {shown(text)} has {count} points; at most 200")
    return [round(a + i * step, 10) for i in range(count)]


def ser_sweep(
    run: Run, snrs_db: list[float] | None, channel_spec: str, target_errors: int, max_messages: int, quiet: bool = False
) -> list[dict[str, Any]]:
    """One row per Es/N0: the learned system's SER with CI, and the baseline's where one exists.

    For a channel that brings its own noise (a user's black box, a chain with no ``awgn`` or ``rbf``
    stage) ``snrs_db`` must be None and there is one row. The baseline is sent through the same channel,
    chains included (its detector is the AWGN one there: mismatched to the impairments).
    """
    cfg = run.cfg
    noisy = has_noise(channel_spec)
    if not noisy and snrs_db is not None:
        raise ConfigError(f"channel {channel_spec} brings its own noise: an SNR sweep does not apply to it")
    black_box, fading = is_black_box(channel_spec), has_fading(channel_spec)
    baseline = None if black_box else classical_baseline(cfg.messages, cfg.channel_uses, cfg.signalling, fading)
    rows = []
    points: Sequence[float | None] = [None]
    if noisy:
        assert snrs_db is not None  # callers give an SNR grid for a channel that takes the run's noise
        points = snrs_db
    with tqdm(total=len(points), desc="evaluate", disable=quiet, unit="snr") as bar:
        for snr_db in points:
            n0 = None if snr_db is None else snr_db_to_n0(snr_db)
            channel = make_channel(channel_spec, n0, timeout=cfg.channel_timeout or None)
            if baseline is not None and fading and n0 is not None:  # its non-coherent detector takes N0
                baseline = classical_baseline(cfg.messages, cfg.channel_uses, cfg.signalling, fading, n0)
            est = monte_carlo(learned_errors(run.tx, run.rx, channel), target_errors, EVAL_BATCH, max_messages)
            row: dict[str, Any] = {
                "snr_db": "" if snr_db is None else snr_db,
                "ebno_db": "" if snr_db is None else round(snr_db_to_ebno_db(snr_db, cfg.bits, cfg.channel_uses), 4),
                "ser": est.ser,
                "ci_low": est.ci_low,
                "ci_high": est.ci_high,
                "errors": est.errors,
                "messages": est.messages,
            }
            if baseline is not None:
                row.update(baseline_row(cfg, baseline, channel, channel_spec, n0, target_errors, max_messages))
            rows.append(row)
            bar.set_postfix(snr=snr_db, ser=f"{est.ser:.2e}", refresh=False)
            bar.update()
    return rows


def baseline_row(
    cfg: Config,
    baseline: Baseline,
    channel: Channel,
    channel_spec: str,
    n0: float | None,
    target_errors: int,
    max_messages: int,
) -> dict[str, Any]:
    """The baseline's columns of one sweep row: its Monte Carlo SER through ``channel``, its closed form where one
    exists, and on ``rbf`` with the pilot code, the coherent code's SER as a bound (``coherent_bound``)."""
    b = monte_carlo(baseline_errors(baseline, channel), target_errors, EVAL_BATCH, max_messages)
    row: dict[str, Any] = {
        "baseline": baseline.name,
        "baseline_ser": b.ser,
        "baseline_ci_low": b.ci_low,
        "baseline_ci_high": b.ci_high,
        "baseline_errors": b.errors,
        "baseline_messages": b.messages,
    }
    if n0 is None:  # the channel brings its own noise, so it is not awgn or rbf and has no closed form
        return row
    exact = closed_form_ser(baseline, channel_spec, n0)
    if exact is not None:
        row["baseline_closed_form"] = exact
    elif channel_spec == "rbf":
        bound = coherent_bound(cfg.messages, cfg.channel_uses, cfg.signalling, n0)
        if bound is not None and bound[1] is not None:
            row["coherent_bound"] = bound[1]
    return row


def default_range(run: Run) -> list[float]:
    """Es/N0 from 10 dB below to 6 dB above the training point (10 dB if it had none), in 2 dB steps."""
    snr = run.cfg.resolved_snr_db if run.cfg.resolved_snr_db is not None else 10.0
    return [snr + d for d in range(-10, 7, 2)]


def evaluate_run(
    run: Run,
    run_dir: Path,
    snrs_db: list[float] | None,
    channel_spec: str,
    target_errors: int,
    max_messages: int,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Sweep, then write ``ser.csv`` and ``ser.png`` into ``run_dir``."""
    rows = ser_sweep(run, snrs_db, channel_spec, target_errors, max_messages, quiet)
    write_csv(run_dir / "ser.csv", rows)
    x = [r["snr_db"] if r["snr_db"] != "" else 0.0 for r in rows]
    curves: dict[str, Curve] = {
        f"learned ({run.cfg.method})": {
            "x": x,
            "ser": [r["ser"] for r in rows],
            "ci_low": [r["ci_low"] for r in rows],
            "ci_high": [r["ci_high"] for r in rows],
        }
    }
    if rows and "baseline_ser" in rows[0]:
        name = rows[0]["baseline"] + (
            " (coherent, perfect CSI)"
            if channel_spec == "rbf" and run.cfg.channel_uses == 1
            else " (AWGN detector)"
            if is_chain(channel_spec)
            else ""
        )
        curves[name] = {"x": x, "ser": [r["baseline_ser"] for r in rows], "style": "s--"}
        if "baseline_closed_form" in rows[0]:
            curves[f"{rows[0]['baseline']} closed form"] = {
                "x": x,
                "ser": [r["baseline_closed_form"] for r in rows],
                "style": "k:",
            }
        if "coherent_bound" in rows[0]:
            curves["coherent bound (knows h)"] = {"x": x, "ser": [r["coherent_bound"] for r in rows], "style": "k:"}
    cfg = run.cfg
    plot_ser(
        curves,
        run_dir / "ser.png",
        title=f"M={cfg.messages}, n={cfg.channel_uses}, trained on {cfg.channel}, evaluated on {channel_spec}",
    )
    return rows

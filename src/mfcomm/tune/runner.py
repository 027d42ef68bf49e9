"""The trials of a sweep on Ray Tune: an embedded local Ray, or an existing cluster.

Each trial is one ``mfcomm train`` run through the same code path (:func:`train_trial`: the run directory
checked, :func:`mfcomm.experiment.runs.train` with a checkpoint, :func:`mfcomm.experiment.runs.save`), so the same
configuration and seed give the same SER as a standalone ``mfcomm train``. CPU trials hold one core and run one
thread each, which their ``config.toml`` records (``threads``, :func:`~mfcomm.tune.results.trial_config`); CUDA
trials hold ``gpus_per_trial`` of a GPU. A trial's :class:`~mfcomm.errors.MfcommError` (a bad channel) is
reported as its result and the sweep goes on; a worker that dies mid-trial is retried (twice) and resumes from
the trial's ``checkpoint.pt``. SIGINT or SIGTERM stops the sweep cleanly (a second one at once): running trials
keep their checkpoints for ``--resume``.

Ray is imported here only; the command line imports this module when a sweep starts. What Ray prints as it starts
and stops stays off the terminal (but for a line on its first warning); it gives up an address after about 20 s.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from tqdm import tqdm

from mfcomm.config.fields import Config
from mfcomm.errors import MfcommError
from mfcomm.experiment import run_directory, runs
from mfcomm.experiment.tensorboard_log import TensorBoardLog
from mfcomm.system.build import bytes_needed
from mfcomm.tune import metrics, results
from mfcomm.tune.spec import Sweep, Trial

MAX_FAILURES = 2
"""Retries of a trial whose worker died (an error that mfcomm reports is a result, never retried)."""
RAY_JOIN = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "10"}
"""Ray's settings as ``ray.init`` joins a cluster, unless set: one try of about 20 s (5 to reach the GCS, 5 its
pub-sub, 10 for the cluster's id) where what listens is not Ray, not twenty of 40 s."""
RAY_WARNING = re.compile(r"^\[[^]\n]* [WEF] \d+ \d+\] \S+ (.+)|(?:WARNING|ERROR) \S+ -- (.+)", re.MULTILINE)
"""A warning or an error in Ray's output: its C++ core's (``[time W pid tid] file:line: text``) or its Python's."""


@dataclass(frozen=True)
class Plan:
    """What every worker gets: the sweep directory (absolute) and each pending trial's configuration."""

    out: Path
    configs: dict[str, Config]
    report_ser: bool = False
    """Report each SER measured during training (``ser_every``), for ASHA to stop poor trials on."""


def train_trial(params: dict[str, Any], plan: Plan) -> None:
    """Ray Tune trainable: train trial ``params["trial"]`` into ``plan.out/trials/<id>`` as ``mfcomm train
    --out`` does (resuming from its checkpoint after a retry), then report :func:`results.from_summary`, or
    :func:`results.failed` with the one-line error."""
    trial_id = params["trial"]
    cfg = results.trial_config(plan.configs[trial_id])
    out = results.trial_dir(plan.out, trial_id)
    checkpoint = out / run_directory.CHECKPOINT

    def on_log(row: dict[str, float], run: runs.Run) -> None:
        curves(row, run)  # every trial's learning curves in TensorBoard, as mfcomm train --tensorboard writes them
        if "ser" in row and plan.report_ser:
            tune.report(
                {
                    "ser": row["ser"],
                    "iteration": row["iteration"],
                    "channel_uses_spent": row["channel_uses"],
                    "train_seconds": row["seconds"],
                }
            )

    try:
        run_directory.prepare(out, resume=True, need_bytes=bytes_needed(cfg))
        with TensorBoardLog(out / run_directory.TENSORBOARD) as curves:
            run = runs.train(cfg, quiet=True, checkpoint=checkpoint, resume=checkpoint.exists(), on_log=on_log)
        runs.save(run, out, replace=True, keep={run_directory.TENSORBOARD})  # the weights supersede the checkpoint
    except MfcommError as err:
        tune.report(results.failed(str(err)))
        return
    summary = runs.summary(run)
    tune.report({**results.from_summary(summary), "iteration": summary["iterations_run"]})


class _Stop(tune.Stopper):
    """Stops every trial once SIGINT or SIGTERM arrived (the first one; a second stops at once)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.signal is not None

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signal:
            raise KeyboardInterrupt(signal.Signals(signum).name)  # the driver's exit status names it
        self.signal = signal.Signals(signum).name


class _Results(tune.Callback):
    """Passes each trial's end to ``on_row(trial_id, values)``: its result, stopped early, or failed."""

    def __init__(self, on_row: Callable[[str, dict[str, Any]], None], stop: _Stop) -> None:
        self.on_row, self.stop = on_row, stop

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its run config into an experiment state that mfcomm never restores (--resume works from
        # results.csv and the trial directories); the progress bar in on_row does not pickle.
        return {}

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        result = trial.last_result or {}
        if result.get("status"):
            self.on_row(trial.config["trial"], {k: result.get(k, "") for k in metrics.ALL})
        elif not self.stop.signal:  # stopped by the scheduler, not by the user
            self.on_row(trial.config["trial"], results.stopped(result))

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        tqdm.write(
            f"mfcomm sweep: trial {trial.config['trial']}: {_error_line(trial)}; retrying (from its checkpoint "
            "where it has one)",
            file=sys.stderr,
        )

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if not self.stop.signal:
            self.on_row(trial.config["trial"], results.failed(_error_line(trial)))


def run_trials(
    sweep: Sweep,
    pending: list[Trial],
    out: Path,
    workers: int | None,
    address: str | None,
    on_row: Callable[[str, dict[str, Any]], None],
) -> str | None:
    """Run ``pending`` on Ray, ``workers`` at a time (None: as the cluster's resources allow), calling
    ``on_row(trial_id, values)`` as each ends. ``address`` (or ``RAY_ADDRESS``): an existing cluster, else a
    local Ray started here and stopped at the end. Returns the name of the signal that stopped the sweep, or None."""
    out = out.resolve()
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # run_trials handles SIGINT itself
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the reporter that honours verbose=0: no trial tables on the terminal
    os.environ["TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"] = "1"  # mfcomm writes every trial's results itself
    started = _start_ray(workers, address)
    stop = _Stop()
    previous = {s: signal.signal(s, stop.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _tune_tracebacks_off():
            _tuner(sweep, pending, out, workers, _Results(on_row, stop), stop).fit()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if started:
            with _ray_output_off():
                ray.shutdown()
        shutil.rmtree(out / ".ray", ignore_errors=True)
    return stop.signal


def _tuner(
    sweep: Sweep, pending: list[Trial], out: Path, workers: int | None, callback: _Results, stop: _Stop
) -> tune.Tuner:
    """One Tune trial per pending trial, in order; Tune's own state in ``out/.ray`` (removed afterwards)."""
    plan = Plan(out, {t.id: t.cfg for t in pending}, report_ser=sweep.scheduler == "asha")
    resources = {"cpu": 1, "gpu": sweep.gpus_per_trial}
    return tune.Tuner(
        tune.with_resources(tune.with_parameters(train_trial, plan=plan), resources),
        param_space={"trial": tune.grid_search([t.id for t in pending])},
        # reuse_actors: a worker imports torch once, then runs trial after trial
        tune_config=tune.TuneConfig(scheduler=_scheduler(sweep), max_concurrent_trials=workers, reuse_actors=True),
        run_config=tune.RunConfig(
            name="sweep",
            storage_path=str(out / ".ray"),
            verbose=0,
            stop=stop,
            callbacks=[callback],
            failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
        ),
    )


@contextlib.contextmanager
def _tune_tracebacks_off() -> Iterator[None]:
    """Tune's error log silenced: a trial's error is its row in ``results.csv``, a retry one line."""
    logger = logging.getLogger("ray.tune")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _start_ray(workers: int | None, address: str | None) -> bool:
    """Connect to ``address`` (or ``RAY_ADDRESS``), or start a local Ray with ``workers`` CPUs and no dashboard;
    False (nothing done) when this process already has Ray running, as a notebook or a test may."""
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        _check_reachable(address)
    joining = {name: value for name, value in RAY_JOIN.items() if address and name not in os.environ}
    os.environ.update(joining)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    local: dict[str, Any] = {} if address else {"num_cpus": workers, "include_dashboard": False}
    try:
        with _ray_output_off():
            if joining:  # Ray's C++ core read its settings at import: it reads RAY_JOIN again
                importlib.import_module("ray._raylet").Config.initialize("")
            ray.init(address=address or "local", log_to_driver=False, logging_level=logging.ERROR, **local)
    except Exception as err:  # noqa: BLE001 - no cluster there, a port in use, ...: Ray's error in one line
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        hint = " (a cluster with token authentication, the default of `ray start`, needs RAY_AUTH_MODE=token here)"
        hint = hint if address and not os.environ.get("RAY_AUTH_MODE") else ""
        said = str(err).strip().splitlines() or [type(err).__name__]
        raise MfcommError(f"cannot start {where}: {said[0][:300]}{hint}") from None
    finally:
        for name in joining:
            del os.environ[name]
    return True


@contextlib.contextmanager
def _ray_output_off() -> Iterator[None]:
    """What Ray prints while the block runs, off the terminal: fds 1 and 2 (its C++ core writes there directly) to
    a temporary file, ``sys.stdout`` and ``sys.stderr`` to a buffer; then, if the block ran to its end, one line
    for the first warning among it."""
    streams = (sys.stdout, sys.stderr)  # as Ray's log handlers hold them: writing to fds 1 and 2
    with tempfile.TemporaryFile() as file, io.StringIO() as text:
        for stream in streams:
            stream.flush()
        saved = [os.dup(fd) for fd in (1, 2)]
        try:
            for fd in (1, 2):
                os.dup2(file.fileno(), fd)
            with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                yield
        finally:
            for stream in streams:  # what Ray wrote through them, to the file
                stream.flush()
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
        file.seek(0)
        if warned := RAY_WARNING.search(file.read().decode(errors="replace") + "\n" + text.getvalue()):
            tqdm.write(f"mfcomm sweep: Ray warns: {(warned[1] or warned[2]).strip()[:300]}", file=sys.stderr)


def _check_reachable(address: str) -> None:
    """One line at once when nothing listens at ``HOST:PORT`` (``ray.init`` would take 20 s there, deaf to Ctrl-C)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://, auto: Ray's own forms
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as err:
        raise MfcommError(f"cannot reach the Ray cluster at {address}: {err.strerror or err}") from None


def _scheduler(sweep: Sweep) -> Any:
    """ASHA on the SER measured during training (``time_attr``: iterations), or None (every trial runs to its end)."""
    if sweep.scheduler != "asha":
        return None
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="iteration",
        metric=sweep.metric,
        mode=sweep.mode,
        max_t=sweep.max_t,
        grace_period=sweep.grace_period,
        stop_last_trials=False,
    )  # a trial at max_t still evaluates


def _error_line(trial: Any) -> str:
    """The last line of a trial's error (a Python exception's ``Type: message``, or why its worker died)."""
    path = Path(trial.error_file) if trial.error_file else None  # on this machine, as soon as the error is known
    text = path.read_text() if path and path.is_file() else "unknown error"
    if "worker process has died" in text.rpartition("Failure # ")[2]:  # Ray's paragraph on why a worker may die
        return "its worker process died"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300]

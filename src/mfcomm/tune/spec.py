"""SPEC.toml of ``mfcomm sweep``, parsed into a fixed list of trials, each validated before any starts.

Tables (docs/sweeps.md):

- ``[base]``: any ``mfcomm train`` key (:class:`mfcomm.config.fields.Config`), shared by every trial;
- ``[grid]``: a list of values per key; every combination is a trial (``seed`` is just another key);
- ``[search]`` (optional): distributions ``{uniform = [a, b]}``, ``{log_uniform = [a, b]}`` or
  ``{choice = [v, ...]}``, drawn ``samples`` times (default 1) from a generator seeded by ``sample_seed``
  (default 0), each draw with every grid combination, so the grid's seeds give each drawn configuration its
  spread; drawn numbers keep 4 significant digits (rounded to integers for integer keys). Also ``metric``
  (``ser``, ``channel_uses_spent`` or ``train_seconds``; default ``ser``; an OFDM sweep's:
  :func:`mfcomm.tune.metrics.metrics`) and ``mode`` (``min`` or ``max``) rank the configurations, and
  ``scheduler = "asha"`` stops poor trials early from the SER each trial measures every ``grace_period``
  iterations (default 1/16 of the longest trial; it sets ``ser_every``);
- ``[resources]`` (optional): ``gpus_per_trial``, fractions share a GPU (default 1 for ``device = "cuda"``).
The same SPEC always gives the same trials with the same ids, which ``--resume`` relies on. A bad key or
value is one :class:`~mfcomm.errors.ConfigError` line naming the trial.

Example
-------
>>> import tempfile, pathlib
>>> spec = pathlib.Path(tempfile.mkdtemp()) / "sweep.toml"
>>> _ = spec.write_text("[base]\\niterations = 100\\n[grid]\\nsigma2 = [0.05, 0.1]\\nseed = [1, 2]\\n")
>>> sweep = parse(spec)
>>> [(t.id, t.label()) for t in sweep.trials][:2], sweep.swept
([('t000', 'sigma2=0.05, seed=1'), ('t001', 'sigma2=0.05, seed=2')], ['sigma2', 'seed'])
>>> _ = spec.write_text("[grid]\\nsigma2 = [0.05, 1.5]\\n")
>>> parse(spec)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mfcomm.errors.ConfigError: ...sweep.toml: trial t001 (sigma2=1.5): sigma2 must be a finite number in (0, 1), not 1.5
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mfcomm.channels.spec import names_code
from mfcomm.config.checks import check_number
from mfcomm.config.fields import FIELDS, Config
from mfcomm.config.files import configure
from mfcomm.errors import ConfigError, MfcommError
from mfcomm.tune.metrics import QUALITY, default_mode, metrics
from mfcomm.tune.search import check_int, draws, text

TABLES = ("base", "grid", "search", "resources")
CONTROLS = ("samples", "sample_seed", "metric", "mode", "scheduler", "grace_period")
"""Keys of ``[search]`` that are settings, not distributions."""
MAX_TRIALS = 10_000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
"""A trial's id: a directory name."""


@dataclass(frozen=True)
class Trial:
    """One ``mfcomm train`` run of a sweep: its id (``t000``, ...), the swept keys' values, the resolved config."""

    id: str
    overrides: dict[str, Any]
    cfg: Config

    def label(self) -> str:
        """The swept values as ``key=value, ...``."""
        return ", ".join(f"{k}={text(v)}" for k, v in self.overrides.items())


@dataclass(frozen=True)
class Sweep:
    """A parsed SPEC.toml: the trials in order, the swept keys, and how trials are ranked, stopped and placed."""

    trials: list[Trial]
    swept: list[str]
    task: str = "symbols"
    """Every trial's task: what it measures (:mod:`mfcomm.tune.metrics`)."""
    metric: str = "ser"
    mode: str = "min"
    scheduler: str | None = None
    grace_period: int = 0
    max_t: int = 0
    """Iterations of the longest trial: ASHA's horizon."""
    gpus_per_trial: float = 0.0


def parse(path: str | Path, trust: bool = False) -> Sweep:
    """Read, expand and validate SPEC.toml (see the module docstring); one-line ConfigError naming ``path``.

    A black-box channel (``PATH.py:FUNC``) is Python code that every trial runs: refused unless ``trust``."""
    path = Path(path)
    try:
        return _parse(_read(path), trust)
    except MfcommError as err:
        raise ConfigError(f"{path}: {err}") from None


def from_overrides(named: dict[str, dict[str, Any]], base: dict[str, Any] | None = None, trust: bool = False) -> Sweep:
    """A sweep of named trials, as a script builds one: trial ``name`` trains ``{**base, **named[name]}``. The
    swept keys are those whose values differ between trials; names become directory names (letters, digits,
    ``.``, ``_``, ``-``). Every configuration is validated first, as :func:`parse` does.

    >>> sweep = from_overrides({"low": {"sigma2": 0.05}, "high": {"sigma2": 0.1}}, base={"iterations": 100})
    >>> [t.id for t in sweep.trials], sweep.swept, sweep.trials[1].cfg.iterations
    (['low', 'high'], ['sigma2'], 100)
    """
    base = base or {}
    if not named:
        raise ConfigError("a sweep needs at least one trial")
    for name, overrides in named.items():
        if not NAME.fullmatch(name):
            raise ConfigError(f"a trial name must be letters, digits, '.', '_' or '-', not {name!r}")
        if unknown := sorted(set(base) - set(FIELDS) | set(overrides) - set(FIELDS)):
            raise ConfigError(f"trial {name}: unknown key(s) {', '.join(unknown)}")
    trials = [_resolve(name, base, overrides) for name, overrides in named.items()]
    _check_trusted(trials, trust)
    keys = list(dict.fromkeys(k for overrides in named.values() for k in overrides))
    swept = [k for k in keys if len({repr(getattr(t.cfg, k)) for t in trials}) > 1]
    return Sweep(trials, swept, **_settings({}, trials), gpus_per_trial=_gpus({}, trials))


def _read(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise ConfigError("no such file")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise ConfigError("values nested too deeply to read" if isinstance(err, RecursionError) else str(err)) from None
    for name, table in data.items():
        if name not in TABLES or not isinstance(table, dict):
            raise ConfigError(f"unknown table or key {name!r}: a sweep has tables [{'], ['.join(TABLES)}]")
    return data


def _parse(data: dict[str, dict[str, Any]], trust: bool) -> Sweep:
    base, grid, search = data.get("base", {}), data.get("grid", {}), dict(data.get("search", {}))
    controls = {k: search.pop(k) for k in CONTROLS if k in search}
    if not data or ("grid" in data and not grid and not search):  # [{}] would be one trial of the defaults
        raise ConfigError("no trials: [grid] is empty or missing; give each key a list, as seed = [1, 2, 3]")
    _check_keys(base, grid, search)
    combos, drawn = _combinations(grid), draws(search, controls)
    if len(combos) * len(drawn) > MAX_TRIALS:
        raise ConfigError(f"{len(combos) * len(drawn)} trials; at most {MAX_TRIALS}")
    overrides = [{**combo, **draw} for draw in drawn for combo in combos]
    width = max(3, len(str(len(overrides) - 1)))
    trials = [_resolve(f"t{i:0{width}d}", base, o) for i, o in enumerate(overrides)]
    _check_trusted(trials, trust)
    settings = _settings(controls, trials)
    if settings["scheduler"] and "ser_every" not in {*base, *grid, *search}:
        trials = [_with_ser_every(t, settings["grace_period"]) for t in trials]
    return Sweep(trials, [*grid, *search], **settings, gpus_per_trial=_gpus(data.get("resources", {}), trials))


def _check_keys(base: dict[str, Any], grid: dict[str, Any], search: dict[str, Any]) -> None:
    """Every key a ``mfcomm train`` key, set in one table only."""
    for name, table in (("base", base), ("grid", grid), ("search", search)):
        unknown = sorted(set(table) - set(FIELDS))
        if unknown:
            raise ConfigError(f"[{name}]: unknown key(s) {', '.join(unknown)}")
    twice = sorted(set(base) & set(grid) | set(base) & set(search) | set(grid) & set(search))
    if twice:
        raise ConfigError(f"{', '.join(twice)} set in more than one of [base], [grid], [search]: keep one")


def _combinations(grid: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the last key varying fastest ([{}] for no grid)."""
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"[grid] {key} must be a non-empty list of values, not {text(values)}")
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _resolve(trial_id: str, base: dict[str, Any], overrides: dict[str, Any]) -> Trial:
    """The trial's configuration, resolved and validated as ``mfcomm train`` would, or one line naming it."""
    trial = Trial(trial_id, overrides, Config())
    try:
        cfg = configure(overrides={**base, **overrides})
    except MfcommError as err:
        raise ConfigError(f"trial {trial_id}{f' ({trial.label()})' if overrides else ''}: {err}") from None
    if cfg.task not in QUALITY:
        raise ConfigError(f"mfcomm sweep ranks {' and '.join(QUALITY)} runs, not task {cfg.task}: train per point")
    return dataclasses.replace(trial, cfg=cfg)


def _check_trusted(trials: list[Trial], trust: bool) -> None:
    code = next((t.cfg.channel for t in trials if names_code(t.cfg.channel)), None)
    if code and not trust:
        raise ConfigError(
            f"the trials run code as their channel ({code}); mfcomm runs no code that only a file names: "
            "pass --trust-config if you trust this SPEC"
        )


def _settings(controls: dict[str, Any], trials: list[Trial]) -> dict[str, Any]:
    """``task``, ``metric``, ``mode``, ``scheduler``, ``grace_period`` and ``max_t``, checked."""
    tasks = sorted({t.cfg.task for t in trials})
    if len(tasks) > 1:
        raise ConfigError(f"a sweep's trials are of one task, not {' and '.join(tasks)}: they measure different things")
    metric = controls.get("metric", QUALITY[tasks[0]][0])
    mode, scheduler = controls.get("mode", default_mode(metric)), controls.get("scheduler")
    if metric not in metrics(tasks[0]):
        raise ConfigError(f"[search] metric must be one of {', '.join(metrics(tasks[0]))}, not {text(metric)}")
    if mode not in ("min", "max"):
        raise ConfigError(f"[search] mode must be min or max, not {text(mode)}")
    if scheduler not in (None, "asha"):
        raise ConfigError(f'[search] scheduler must be "asha" (or left out), not {text(scheduler)}')
    if scheduler and metric != "ser":
        raise ConfigError("[search] scheduler asha needs metric ser (the symbols task's), the one measured in training")
    if "grace_period" in controls and not scheduler:
        raise ConfigError('[search] grace_period is for scheduler = "asha"')
    max_t = max(t.cfg.total_iterations for t in trials)
    grace = controls.get("grace_period", max(1, max_t // 16)) if scheduler else 0
    if scheduler:
        check_int("[search] grace_period", grace, 1, max_t)
    return {
        "task": tasks[0],
        "metric": metric,
        "mode": mode,
        "scheduler": scheduler,
        "grace_period": grace,
        "max_t": max_t,
    }


def _with_ser_every(trial: Trial, grace: int) -> Trial:
    """The trial measuring its SER about every ``grace`` iterations (a multiple of its ``log_every``): what ASHA
    stops poor trials on. ``ser_every`` is then part of the trial's configuration (its ``config.toml``)."""
    every = -(-grace // trial.cfg.log_every) * trial.cfg.log_every
    return dataclasses.replace(trial, cfg=configure(overrides={**trial.cfg.to_dict(), "ser_every": every}))


def _gpus(resources: dict[str, Any], trials: list[Trial]) -> float:
    """GPUs each trial holds: ``gpus_per_trial``, default 1 where trials run on CUDA, else 0."""
    unknown = sorted(set(resources) - {"gpus_per_trial"})
    if unknown:
        raise ConfigError(f"[resources]: unknown key(s) {', '.join(unknown)} (only gpus_per_trial)")
    cuda = any(t.cfg.device.startswith("cuda") for t in trials)
    gpus = resources.get("gpus_per_trial", 1.0 if cuda else 0.0)
    check_number("[resources] gpus_per_trial", gpus, 0.0, 64.0, "[]")
    if cuda and gpus == 0:
        raise ConfigError('[resources] gpus_per_trial must be > 0 for device = "cuda" (0.25: four trials per GPU)')
    if gpus and not cuda:
        raise ConfigError('[resources] gpus_per_trial is for device = "cuda" trials')
    return float(gpus)

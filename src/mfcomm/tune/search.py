"""``[search]`` of a sweep's SPEC.toml: the distributions a random search draws its trials' values from.

Example
-------
>>> draws({"sigma2": {"log_uniform": [0.01, 0.1]}}, {"samples": 2, "sample_seed": 0})
[{'sigma2': 0.04335}, {'sigma2': 0.01861}]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from mfcomm.config.checks import check_number
from mfcomm.config.fields import FIELDS
from mfcomm.errors import ConfigError, shorten

DISTRIBUTIONS = ("uniform", "log_uniform", "choice")
MAX_SAMPLES = 10_000
"""The most draws ``samples`` may ask for."""
DIGITS = 4
"""Significant digits a drawn number keeps: readable in ``results.csv``, exactly the value trained with."""


def draws(search: dict[str, Any], controls: dict[str, Any]) -> list[dict[str, Any]]:
    """``samples`` draws of every distribution, from a generator seeded by ``sample_seed``."""
    samples, seed = controls.get("samples", 1), controls.get("sample_seed", 0)
    check_int("[search] samples", samples, 1, MAX_SAMPLES)
    check_int("[search] sample_seed", seed, 0, 2**63 - 1)
    if samples > 1 and not search:
        raise ConfigError(
            "[search] samples > 1 needs a distribution such as sigma2 = {log_uniform = [0.005, 0.3]} "
            "(repeats of one configuration are the grid's seeds)"
        )
    distributions = {key: distribution(key, value) for key, value in search.items()}
    rng = np.random.default_rng(seed)
    return [{key: draw(rng) for key, draw in distributions.items()} for _ in range(samples)]


def distribution(key: str, spec: Any) -> Callable[[np.random.Generator], Any]:
    """A function drawing one value of ``key`` from ``{kind = args}``."""
    kind, args = next(iter(spec.items())) if isinstance(spec, dict) and len(spec) == 1 else (None, None)
    if kind not in DISTRIBUTIONS:
        raise ConfigError(
            f"[search] {key}: expected {{uniform = [a, b]}}, {{log_uniform = [a, b]}} or "
            f"{{choice = [v, ...]}}, not {text(spec)}"
        )
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"[search] {key}: choice needs a non-empty list, not {text(args)}")
        return lambda rng: args[int(rng.integers(len(args)))]
    log = kind == "log_uniform"
    numbers = isinstance(args, list) and len(args) == 2 and all(is_finite(v) for v in args)
    if not isinstance(args, list) or not numbers or not args[0] < args[1] or (log and args[0] <= 0):
        raise ConfigError(
            f"[search] {key}: {kind} needs [low, high] with {'0 < ' if log else ''}low < high, not {text(args)}"
        )
    low, high = (math.log(args[0]), math.log(args[1])) if log else args
    integer = FIELDS[key].type in ("int", "int | None")

    def draw(rng: np.random.Generator) -> int | float:
        x = rng.uniform(low, high)
        x = math.exp(x) if log else x
        return round(x) if integer else float(f"{x:.{DIGITS}g}")

    return draw


def check_int(name: str, value: Any, low: int, high: int) -> None:
    """An integer in [low, high] (not a float or a bool), else one line naming ``name``."""
    if isinstance(value, (float, bool)):
        raise ConfigError(f"{name} must be an integer, not {text(value)}")
    check_number(name, value, low, high)


def is_finite(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def text(value: Any) -> str:
    """A value as TOML-ish text, cut short."""
    shown = f"{value:g}" if isinstance(value, float) else str(value) if isinstance(value, int) else repr(value)
    return shorten(str(value).lower() if isinstance(value, bool) else shown)

"""Checkpoints of ``mfcomm train``: interrupt, resume, and stop on divergence.

A training loop hands its stateful parts (optimizers, loss windows, the plateau rule, ...) to a
:class:`TrainingState` and calls :meth:`TrainingState.done` after every iteration. ``done``

- stops training with :class:`~mfcomm.errors.DivergedError` when a loss is not finite (before anything
  of that iteration is saved, so the last checkpoint on disk is a good one);
- every ``every`` iterations, and when SIGINT or SIGTERM arrived (:func:`stop_signals`), writes the whole
  training state to one file: weights, optimizer states, random-generator states, counters, the learning
  curve so far. The file is written to a temporary name and renamed, and read back with
  ``torch.load(..., weights_only=True)``: tensors and plain values only, nothing is unpickled;
- after writing on a signal, raises :class:`~mfcomm.errors.Interrupted`.

A run resumed from the file (``mfcomm train --resume DIR``) continues at the next iteration with every
part as it was, so it ends with the same weights as an uninterrupted run (bit-identical on the CPU, for
channels whose randomness mfcomm owns).

Example
-------
>>> import torch
>>> from mfcomm.learning.checkpointing import TrainingState
>>> net = torch.nn.Linear(2, 2)
>>> opt = torch.optim.Adam(net.parameters())
>>> state = TrainingState()
>>> state.track(opt=opt)
0
>>> state.done(1, [torch.tensor(0.5)])
>>> state.done(2, [torch.tensor(float("nan"))])
Traceback (most recent call last):
...
mfcomm.errors.DivergedError: training diverged at iteration 2: a loss is not finite
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from mfcomm.channels import worker
from mfcomm.errors import DivergedError, Interrupted, MfcommError, shorten

FORMAT = 1
LAYOUT: dict[str, tuple[tuple[type, ...], str]] = {
    "iteration": ((int,), "an integer"),
    "parts": ((dict,), "a table"),
    "config": ((str,), "TOML text"),
    "seconds": ((int, float), "a number"),
}
"""What a checkpoint holds beside ``format``, and the type of each (``read`` refuses any other)."""
_PLAIN = (torch.Tensor, int, float, bool, str, type(None))
_stop: list[str] = []  # the name of a signal that arrived inside stop_signals()


@contextlib.contextmanager
def stop_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM ask training to stop at the end of the current iteration (a
    second signal stops at once, with KeyboardInterrupt, and so does a black box's call still unanswered a
    second after the first: :func:`mfcomm.channels.worker.abandon_calls`); outside it, the previous handlers
    apply."""

    def ask(signum: int, _frame: Any) -> None:
        if _stop:  # named, so that the command exits 128 + this signal's number (130 or 143)
            raise KeyboardInterrupt(signal.Signals(signum).name)
        _stop.append(signal.Signals(signum).name)
        worker.abandon_calls(_stop[0])  # a black box's call that never returns must not keep the iteration going

    if threading.current_thread() is not threading.main_thread():  # only the main thread may take signals
        yield
        return
    previous = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
    _stop.clear()
    worker.reset()
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _stop.clear()
        worker.reset()


def snapshot(part: Any) -> Any:
    """The state of one part: ``state_dict()``, a generator's state, or an object's plain attributes."""
    if isinstance(part, torch.Generator):
        return part.get_state()
    if hasattr(part, "state_dict"):
        return part.state_dict()
    return {k: _copy(v) for k, v in vars(part).items() if _is_plain(v)}


def restore(part: Any, state: Any) -> None:
    """Put ``state`` (from :func:`snapshot`) back into ``part``."""
    if isinstance(part, torch.Generator):
        part.set_state(state)
    elif hasattr(part, "load_state_dict"):
        part.load_state_dict(state)
    else:
        for k, v in state.items():
            setattr(part, k, v)


def _is_plain(v: Any) -> bool:
    """Tensors, numbers, strings, None, and lists and dicts of them: what ``weights_only`` reads back."""
    if isinstance(v, (list, tuple)):
        return all(_is_plain(x) for x in v)
    if isinstance(v, dict):
        return all(isinstance(k, str) and _is_plain(x) for k, x in v.items())
    return isinstance(v, _PLAIN)


def _copy(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    return [_copy(x) for x in v] if isinstance(v, (list, tuple)) else v


class GlobalRandom:
    """torch's global generators (CPU and, where present, CUDA) as one trackable part."""

    def state_dict(self) -> dict[str, Any]:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return {"cpu": torch.get_rng_state(), "cuda": cuda}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["cpu"])
        if state["cuda"]:
            torch.cuda.set_rng_state_all(state["cuda"])


class TrainingState:
    """Where a training loop is, what it holds, and when it saves (see the module docstring).

    ``save(iteration, loop_state)`` writes a checkpoint (None: checkpoints off); ``resumed`` is the
    loop's state from the checkpoint a run resumes from, with its ``iteration``.
    """

    def __init__(
        self, every: int = 0, save: Callable[[int, dict], None] | None = None, resumed: dict[str, Any] | None = None
    ):
        self.every, self.save, self.resumed = every, save, resumed
        self.parts: dict[str, Any] = {}
        self.last_saved: int | None = None
        self.iteration = int(resumed["iteration"]) if resumed else 0

    def track(self, **parts: Any) -> int:
        """Register stateful parts by name; on resume, restore them. Returns the iterations already done."""
        self.parts.update(parts)
        if not self.resumed:
            return 0
        for name, part in parts.items():
            try:
                restore(part, self.resumed["parts"][name])
            except Exception as err:  # noqa: BLE001 - a checkpoint of another run's shape: one line
                raise MfcommError(f"the checkpoint does not fit this run: its {name} ({_why(err)})") from None
        return int(self.resumed["iteration"])

    def done(self, iteration: int, losses: list[torch.Tensor]) -> None:
        """End of ``iteration``: check its losses, save when due or asked to stop, then stop if asked."""
        if losses and not bool(torch.isfinite(torch.stack([loss.detach().float() for loss in losses])).all()):
            raise DivergedError(f"training diverged at iteration {iteration}: a loss is not finite")
        self.iteration = iteration
        if (self.every and iteration % self.every == 0) or _stop:
            self.checkpoint()
        if _stop:
            raise Interrupted(iteration, _stop[0], self.last_saved == iteration)

    def checkpoint(self) -> None:
        """Save the state after the last iteration done (if checkpoints are on)."""
        if self.save and self.last_saved != self.iteration:
            parts = {k: snapshot(p) for k, p in self.parts.items()}
            try:
                self.save(self.iteration, {"iteration": self.iteration, "parts": parts})
            except MfcommError as err:
                kept = "none written yet" if self.last_saved is None else f"iteration {self.last_saved}, kept"
                raise MfcommError(f"{err}; the last good checkpoint: {kept}") from None
            self.last_saved = self.iteration


def write(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint file atomically: to a temporary name, then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        torch.save({"format": FORMAT, **state}, tmp)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)  # no partial (or 0-byte) file left behind, whatever stopped the write
        if isinstance(err, (OSError, RuntimeError)):  # a full disk: torch reports it as either
            why = err.strerror if isinstance(err, OSError) and err.strerror else _why(err)
            raise MfcommError(f"cannot write {path}: {why}") from None
        raise


def read(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`write` (``weights_only``: tensors and plain values only), its layout
    (:data:`LAYOUT`, the config's TOML) checked: a missing, foreign or malformed file is one MfcommError line."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise MfcommError(f"no checkpoint to resume from: {path} not found") from None
    except Exception as err:  # noqa: BLE001 - truncated or foreign file: one line
        raise MfcommError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise MfcommError(f"{path}: not an mfcomm checkpoint (format {FORMAT})")
    for key, (kinds, what) in LAYOUT.items():
        if not isinstance(state.get(key), kinds) or isinstance(state.get(key), bool):
            got = "missing" if key not in state else f"a {type(state[key]).__name__}"
            raise MfcommError(f"{path}: a malformed checkpoint: {key} is {got}, not {what}")
    named = all(isinstance(k, str) for k in state["parts"])
    if state["iteration"] < 0 or not 0 <= state["seconds"] < math.inf or not named:
        raise MfcommError(f"{path}: a malformed checkpoint: a negative iteration or time, or parts without names")
    try:
        tomllib.loads(state["config"])
    except (tomllib.TOMLDecodeError, RecursionError) as err:
        raise MfcommError(f"{path}: a malformed checkpoint: its config is not TOML ({_why(err)})") from None
    return state


def _why(err: BaseException) -> str:
    """``err`` as one short line: its type and its message, line breaks folded, cut short."""
    return shorten(" ".join(f"{type(err).__name__}: {err}".split()), 200)


def weights_finite(modules: dict[str, torch.nn.Module]) -> bool:
    """True when every parameter of every module is finite (a checkpoint is only written then)."""
    return all(bool(torch.isfinite(p).all()) for m in modules.values() for p in m.parameters())

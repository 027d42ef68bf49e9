"""Channels: one contract, ``y = channel(x)``, that built-in models and user black boxes all satisfy.

``x`` and ``y`` are complex64 tensors of shape ``(batch, n)`` (batch-first, shape kept). A channel has
``name`` and ``differentiable``; model-free training only ever *samples* it (no gradient is taken
through it), model-based training back-propagates through it and so needs ``differentiable``.

Example
-------
>>> import torch
>>> ch = AWGN(n0=0.1)
>>> y = ch(torch.ones(4, 2, dtype=torch.complex64))
>>> y.shape, y.dtype
(torch.Size([4, 2]), torch.complex64)
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import torch

from mfcomm.channels.worker import NotArray, ProcessWorker, Raised
from mfcomm.conventions import SYMBOL_DTYPE
from mfcomm.errors import ChannelError, DivergedError, MfcommError

Y = TypeVar("Y")
Y_co = TypeVar("Y_co", covariant=True)


class Sampler(Protocol[Y_co]):
    """Anything sampled as ``y = sampler(x)`` with a ``name`` and ``differentiable``: a :class:`Channel`, or a
    bit-wise channel whose ``y`` is ``(symbols, n0)`` (:mod:`mfcomm.channels.known_noise`)."""

    name: str
    differentiable: bool

    def __call__(self, x: torch.Tensor) -> Y_co: ...


class Channel(Protocol):
    """What every channel provides: built-in models, chains (:mod:`mfcomm.channels.chain`), user black boxes
    (:class:`BlackBox`), GNU Radio's model and the channel node's channel all keep it."""

    name: str
    differentiable: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (batch, n) complex64 -> ``y``: (batch, n) complex64."""
        ...


def complex_normal(
    shape: tuple[int, ...], variance: float, device: torch.device | str, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Samples of CN(0, variance): ``variance/2`` on each of the real and imaginary parts."""
    w = torch.randn(*shape, 2, device=device, generator=generator) * math.sqrt(variance / 2)
    return torch.view_as_complex(w)


class AWGN:
    """Additive white Gaussian noise: ``y = x + w``, ``w ~ CN(0, N0 I)``.

    Parameters: ``n0``, the noise variance per complex symbol (see :mod:`mfcomm.conventions`).
    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64. Differentiable.
    """

    differentiable = True

    def __init__(self, n0: float, generator: torch.Generator | None = None):
        self.n0 = n0
        self.generator = generator
        self.name = "awgn"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x + complex_normal(tuple(x.shape), self.n0, x.device, self.generator)


class RayleighBlockFading:
    """Rayleigh block fading: ``y = h x + w``, ``h ~ CN(0, 1)`` once per message (per row), ``w ~ CN(0, N0 I)``.

    The receiver is not told ``h``; :meth:`sample` also returns it, for coherent baselines.
    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64. Differentiable in ``x``.
    """

    differentiable = True

    def __init__(self, n0: float, generator: torch.Generator | None = None):
        self.n0 = n0
        self.generator = generator
        self.name = "rbf"

    def sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, h)`` with ``h`` of shape (batch, 1)."""
        h = complex_normal((x.shape[0], 1), 1.0, x.device, self.generator)
        return h * x + complex_normal(tuple(x.shape), self.n0, x.device, self.generator), h

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.sample(x)[0]


class BlackBox:
    """A user's channel: a Python function on complex64 NumPy arrays of shape (batch, n), sampled only.

    ``func`` is the function, or ``PATH.py:FUNC`` naming one in a file (what ``make_channel`` passes), which runs
    in a worker process (:mod:`mfcomm.channels.worker`): a call that hangs (holding the GIL too), exits
    or crashes costs that process, restarted for the next call, never mfcomm; :meth:`close` ends it and all it
    started (so does collecting the box, or exiting). A function object (:func:`as_channel`) may hold state and
    closures that cannot move to another process: it runs in mfcomm's, with a ``timeout`` in a worker thread (a
    ``KeyboardInterrupt`` it raises is its failure too; a call holding the GIL cannot be abandoned), else in the
    caller's thread (a ``KeyboardInterrupt`` is left to interrupt the program: it may be the user's Ctrl-C).

    The function gets its own copy of the symbols (noise added in place, ``x += w``, cannot change the perturbed
    symbols the estimator reads). Every output is checked (type, dtype, shape, finite values) and copied (any
    layout is accepted); a bad one, an exception (``SystemExit`` included), no answer within ``timeout`` seconds
    (None or 0: no limit) or the worker process's end is a one-line :class:`ChannelError` naming the channel.
    """

    differentiable = False

    def __init__(self, func: Callable[[np.ndarray], np.ndarray] | str, name: str, timeout: float | None = None):
        self.name, self.timeout = name, timeout
        self.func = None if isinstance(func, str) else func
        self.worker = _Worker() if timeout and self.func is not None else None
        self.process = ProcessWorker(check_user_spec(func), name) if isinstance(func, str) else None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x_np = x.detach().to("cpu", SYMBOL_DTYPE).numpy()
        try:  # a worker process gets its own copy down the pipe; a function here gets one too: it may write to it
            y = self.process.call(x_np, self.timeout or None) if self.process else self._call_here(x_np.copy())
        except TimeoutError:
            raise ChannelError(f"channel {self.name} did not answer within {self.timeout:g} s") from None
        if isinstance(y, Raised):  # a user's function may raise anything; report it in one line
            raise ChannelError(f"channel {self.name} raised {y.type_name}" + (f": {y.message}" if y.message else ""))
        return torch.from_numpy(check_output(self.name, x_np, y)).to(x.device)

    def _call_here(self, x_np: np.ndarray) -> object:
        """``func(x_np)`` in this process, or Raised saying what it raised; TimeoutError after ``timeout``."""
        assert self.func is not None  # a box without a worker process has its function here
        if self.worker:
            try:
                ok, y = self.worker.call(self.func, x_np, self.timeout)
            except TimeoutError:
                self.worker = _Worker()  # the hung call keeps its thread; later calls get a fresh one
                raise
        else:
            ok, y = _outcome(self.func, x_np, (Exception, SystemExit))
        return y if ok else Raised(type(y).__name__, str(y))

    def close(self) -> None:
        """End the worker process and all it started (a later call starts a fresh one); no-op for a function."""
        if self.process:
            self.process.close()


def _outcome(
    func: Callable[[np.ndarray], np.ndarray],
    arg: np.ndarray,
    catch: type[BaseException] | tuple[type[BaseException], ...],
) -> tuple[bool, object]:
    """``(True, func(arg))``, or ``(False, error)`` if ``func`` raised one of ``catch``: a channel's
    ``SystemExit`` is its failure, not a request to end mfcomm."""
    try:
        return True, func(arg)
    except catch as err:
        return False, err


class _Worker:
    """A daemon thread that runs a black box's calls, so that a call that hangs can be abandoned
    (a daemon thread does not keep the process alive)."""

    def __init__(self) -> None:
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, daemon=True, name="mfcomm-black-box").start()

    def _serve(self) -> None:
        while True:
            func, arg = self.requests.get()
            # anything the function raises goes back to the caller: a SystemExit left to end this
            # thread would leave the caller waiting out its whole time-out
            self.results.put(_outcome(func, arg, BaseException))

    def call(
        self, func: Callable[[np.ndarray], np.ndarray], arg: np.ndarray, timeout: float | None
    ) -> tuple[bool, object]:
        """``func(arg)``'s outcome as :func:`_outcome` gives it; TimeoutError after ``timeout`` seconds."""
        self.requests.put((func, arg))
        try:
            return self.results.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None


def check_output(name: str, x: np.ndarray, y: object) -> np.ndarray:
    """A C-ordered copy of ``y`` if it keeps the channel contract for input ``x``, else a ChannelError.

    The copy makes any layout acceptable (a reversed view, a strided or Fortran-ordered array, a read-only
    one) and keeps the channel from changing, later, an output that training already holds. The checks read
    ``np.asarray(y)``, the plain array under a subclass, so that a masked array cannot hide NaN or inf behind
    its mask. Non-finite values are the channel's fault when its input was finite; when it was not, training
    had diverged already (a :class:`DivergedError`)."""
    if not isinstance(y, np.ndarray):
        what = y.type_name if isinstance(y, NotArray) else type(y).__name__  # a worker process names its type
        raise ChannelError(f"channel {name} returned {what}, expected a NumPy array")
    y = np.asarray(y)  # the data a subclass (a masked array, a matrix) holds, all of it, as training will read it
    if y.dtype != np.complex64:
        raise ChannelError(f"channel {name} returned dtype {y.dtype}, expected complex64")
    if y.shape != x.shape:
        raise ChannelError(f"channel {name} returned shape {y.shape}, expected {x.shape}")
    if not np.isfinite(y).all():
        raise non_finite(name, bool(np.isfinite(x).all()))
    return np.array(y, order="C")


def non_finite(name: str, input_finite: bool) -> MfcommError:
    """The error for a channel output that is not finite: the channel's fault for finite input; for input that
    was not finite, training had diverged already."""
    if not input_finite:
        return DivergedError(f"training diverged: the symbols sent to channel {name} are not finite")
    return ChannelError(f"channel {name} returned non-finite values (NaN or inf) for finite input")


class Checked:
    """A channel object a user passed (``mfcomm.train(cfg, channel=obj)``) with every output checked as a
    :class:`BlackBox`'s is, on tensors: a tensor (or a tuple whose first item is one) of the input's shape and
    dtype, finite for finite input; a bad one is a :class:`ChannelError` naming the channel, not a shape error
    deep in the receiver or a divergence of training. Gradients pass; other attributes are the object's."""

    def __init__(self, channel: Channel):
        self.channel = channel

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.channel, attr)

    def __call__(self, x: torch.Tensor) -> Any:
        out = self.channel(x)
        y, name = out[0] if isinstance(out, tuple) and out else out, self.channel.name
        if not isinstance(y, torch.Tensor):
            raise ChannelError(f"channel {name} returned {type(y).__name__}, expected a torch tensor")
        if y.shape != x.shape or y.dtype != x.dtype:
            raise ChannelError(
                f"channel {name} returned {y.dtype} {tuple(y.shape)}, expected {x.dtype} {tuple(x.shape)}"
            )
        if not bool(torch.isfinite(y).all()):
            raise non_finite(name, bool(torch.isfinite(x).all()))
        return out


def check_user_spec(spec: str) -> str:
    """``spec`` if it is ``PATH.py:FUNC`` naming a file that exists, else a one-line ChannelError. Imports nothing:
    the file is imported in its :class:`BlackBox`'s worker process, which reports what goes wrong there (an
    exception or ``sys.exit`` at import, no such function) in one line too."""
    path_text, _, func_name = spec.rpartition(":")
    if not path_text.endswith(".py") or not func_name:
        raise ChannelError(f"channel {spec!r}: expected PATH.py:FUNC")
    if not Path(path_text).is_file():
        raise ChannelError(f"channel {spec}: file {path_text} not found")
    return spec


def as_channel(obj: object, name: str | None = None, timeout: float | None = None) -> Channel:
    """``obj`` as a channel, for ``mfcomm.train(cfg, channel=obj)``: an object that keeps the channel contract
    (callable, with ``differentiable`` and ``name``) as it is; any other callable as a user's black box
    ``y = f(x)`` on NumPy arrays (:class:`BlackBox`, named ``name`` or the function's ``__name__``, each call
    limited to ``timeout`` seconds); anything else is a one-line :class:`ChannelError`.

    >>> import numpy as np
    >>> ch = AWGN(n0=0.1)
    >>> as_channel(ch) is ch
    True
    >>> def my_channel(x: np.ndarray) -> np.ndarray:
    ...     return x * np.complex64(0.5)
    >>> box = as_channel(my_channel)
    >>> type(box).__name__, box.name, box.differentiable
    ('BlackBox', 'my_channel', False)
    >>> box(torch.ones(1, 2, dtype=torch.complex64))
    tensor([[0.5000+0.j, 0.5000+0.j]])
    >>> as_channel("awgn")
    Traceback (most recent call last):
    ...
    mfcomm.errors.ChannelError: channel must be a Channel or a function y = f(x) on NumPy arrays, not str
    """
    if not callable(obj):
        what = type(obj).__name__
        raise ChannelError(f"channel must be a Channel or a function y = f(x) on NumPy arrays, not {what}")
    if isinstance(obj, type):
        raise ChannelError(f"channel {obj.__name__} is a class: pass an instance of it")
    if hasattr(obj, "differentiable"):
        if not isinstance(getattr(obj, "name", None), str):
            raise ChannelError(f"channel {type(obj).__name__} has differentiable but no name: a Channel needs both")
        return obj  # type: ignore[return-value]  # callable, with name and differentiable: the contract
    return BlackBox(obj, name=name or str(getattr(obj, "__name__", type(obj).__name__)), timeout=timeout)

"""Black-box channels that misbehave: writing to their input, odd output layouts, ``SystemExit`` and
``KeyboardInterrupt`` inside a call, ``sys.exit`` at import. Each gives either the right result or one
:class:`ChannelError` line, promptly."""

import time
import warnings

import numpy as np
import pytest
import torch

from mfcomm.channels.contract import BlackBox
from mfcomm.channels.spec import make_channel
from mfcomm.config.files import configure
from mfcomm.errors import ChannelError, DivergedError
from mfcomm.experiment.runs import train

NOISY = """import numpy as np

rng = np.random.default_rng(0)


def _noise(shape):
    w = rng.standard_normal(shape + (2,), dtype=np.float32) * np.sqrt(0.05, dtype=np.float32)
    return w.view(np.complex64)[..., 0]


def in_place(x):
    x += _noise(x.shape)
    return x


def copying(x):
    return x + _noise(x.shape)
"""


def _x() -> torch.Tensor:
    return torch.arange(6, dtype=torch.float32).reshape(3, 2).to(torch.complex64)


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_a_channel_writing_to_its_input_leaves_the_callers_symbols_alone(timeout):
    x = _x()
    y = BlackBox(lambda a: np.add(a, 1, out=a), "box.py:f", timeout)(x)
    assert torch.equal(x, _x()) and torch.equal(y, _x() + 1)


@pytest.mark.parametrize("timeout", [0.0, 60.0])
def test_in_place_noise_trains_bit_identically_to_the_same_noise_on_a_copy(tmp_path, timeout):
    """The issue's case: ``x += w; return x`` changed the perturbed symbols the estimator reads."""
    (tmp_path / "noisy.py").write_text(NOISY)
    runs = [
        train(
            configure(
                overrides={
                    "channel": f"{tmp_path / 'noisy.py'}:{func}",
                    "iterations": 20,
                    "batch_size": 64,
                    "channel_timeout": timeout,
                    "seed": 3,
                }
            ),
            quiet=True,
            evaluate=False,
        )
        for func in ("in_place", "copying")
    ]
    a, b = (run.tx.codebook() for run in runs)
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "layout",
    [
        lambda a: a[:, ::-1],  # a reversed view: negative strides
        np.asfortranarray,
        lambda a: np.repeat(a, 2, axis=1)[:, ::2],  # a strided view
        lambda a: np.broadcast_to(a[:1], a.shape),  # read-only, zero strides
    ],
)
def test_outputs_of_any_layout_are_accepted(layout):
    x = _x()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's warning on a read-only array
        y = BlackBox(layout, "box.py:f")(x)
    assert torch.equal(y, torch.from_numpy(np.ascontiguousarray(layout(x.numpy()))))


def test_an_output_buffer_the_channel_reuses_does_not_change_outputs_already_returned():
    buffer = np.zeros((3, 2), np.complex64)

    def reuse(a: np.ndarray) -> np.ndarray:
        buffer[...] = a
        return buffer

    ch = BlackBox(reuse, "box.py:f")
    first = ch(_x())
    ch(_x() + 1)
    assert torch.equal(first, _x())


def _exit(a: np.ndarray) -> np.ndarray:
    raise SystemExit(0)


def _interrupt(a: np.ndarray) -> np.ndarray:
    raise KeyboardInterrupt


@pytest.mark.parametrize("func, timeout", [(_exit, None), (_exit, 30.0), (_interrupt, 30.0)])
def test_system_exit_and_keyboard_interrupt_in_a_call_give_one_line_at_once(func, timeout):
    ch = BlackBox(func, "box.py:f", timeout)
    start = time.perf_counter()
    with pytest.raises(ChannelError, match=f"box.py:f raised {'SystemExit' if func is _exit else 'KeyboardInt'}"):
        ch(_x())
    assert time.perf_counter() - start < 3.0  # not the 30 s time-out
    ch.func = lambda a: a  # the worker thread outlives the failure and serves the next call
    assert torch.equal(ch(_x()), _x())


def test_keyboard_interrupt_in_a_call_without_time_out_is_left_to_interrupt_the_program():
    """In the caller's thread it cannot be told from the user's Ctrl-C, which must still stop mfcomm."""
    with pytest.raises(KeyboardInterrupt):
        BlackBox(_interrupt, "box.py:f")(_x())


@pytest.mark.parametrize("code", ["sys.exit(0)", "sys.exit(3)", "raise SystemExit"])
def test_sys_exit_at_import_gives_a_channel_error(tmp_path, code):
    path = tmp_path / "quits.py"
    path.write_text(f"import sys\n{code}\n\ndef f(x):\n    return x\n")
    with pytest.raises(ChannelError, match=r"importing .*quits.py raised SystemExit") as err:
        make_channel(f"{path}:f", None)
    assert "\n" not in str(err.value)


def test_the_cli_reports_sys_exit_at_import_as_one_line_with_exit_2(tmp_path, capsys):
    from mfcomm.cli import main

    path = tmp_path / "quits.py"
    path.write_text("import sys\nsys.exit(0)\n")
    assert main(["train", "--channel", f"{path}:f", "--iterations", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "SystemExit" in err and err.count("\n") == 1


MASKED = """import numpy as np


def f(x):
    y = np.ma.masked_array(x.copy(), mask=np.zeros(x.shape, bool))
    y[0, 0] = np.nan
    y.mask[0, 0] = True  # the NaN hidden behind the mask
    return y
"""


class _Liar(np.ndarray):
    """An ndarray subclass whose ufuncs (``np.isfinite`` among them) answer True, whatever it holds."""

    def __array_ufunc__(self, *args: object, **kwargs: object) -> object:
        return np.True_


def _masked(a: np.ndarray) -> np.ndarray:
    y = np.ma.masked_array(a.copy(), mask=np.zeros(a.shape, bool))
    y[0, 0], y.mask[0, 0] = np.nan, True
    return y


def _liar(a: np.ndarray) -> np.ndarray:
    y = a.copy()
    y[0, 0] = np.inf
    return y.view(_Liar)


@pytest.mark.parametrize("func", [_masked, _liar])
def test_a_subclass_of_ndarray_cannot_smuggle_nan_past_the_output_check(func):
    with pytest.raises(ChannelError, match=r"^channel box.py:f returned non-finite values \(NaN or inf\)"):
        BlackBox(func, "box.py:f")(_x())


def test_non_finite_symbols_into_a_channel_are_training_divergence_not_the_channels_fault():
    x = _x()
    x[0, 0] = complex("nan")
    with pytest.raises(DivergedError, match=r"^training diverged: the symbols sent to channel box.py:f are not"):
        BlackBox(lambda a: a, "box.py:f")(x)


def test_the_cli_reports_a_masked_nan_as_the_channels_fault_and_leaves_no_run(tmp_path, capsys):
    from mfcomm.cli import main

    path = tmp_path / "masked.py"
    path.write_text(MASKED)
    out = tmp_path / "run"
    assert main(["train", "--channel", f"{path}:f", "--iterations", "5", "--quiet", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"channel {path}:f returned non-finite values" in err
    assert "diverged" not in err and not out.exists()


class _Object:
    """A channel object as a user writes one for ``mfcomm.train(cfg, channel=obj)``: ``name``, ``differentiable``
    and a call on tensors, here returning what ``answer(x)`` gives."""

    differentiable, name = False, "mine"

    def __init__(self, answer):
        self.answer = answer

    def __call__(self, x):
        return self.answer(x)


@pytest.mark.parametrize(
    "answer, needle",
    [
        (lambda x: torch.full_like(x, float("nan")), "channel mine returned non-finite values (NaN or inf) for finite"),
        (lambda x: x[:, :1], "channel mine returned torch.complex64 (64, 1), expected torch.complex64 (64, 2)"),
        (lambda x: x.real, "channel mine returned torch.float32 (64, 2), expected torch.complex64 (64, 2)"),
        (lambda x: x.numpy(), "channel mine returned ndarray, expected a torch tensor"),
    ],
)
def test_a_channel_object_is_checked_as_a_black_box_is(answer, needle):
    """An object keeping the channel contract used to pass its outputs on unchecked: NaN was reported as training
    divergence, a wrong shape as a matrix-size error deep in the receiver. Now it is the channel's one-line error,
    raised at the first transmitter step (nothing trained on it)."""
    cfg = configure(overrides={"iterations": 3, "batch_size": 64, "compare_baseline": False})
    with pytest.raises(ChannelError) as err:
        train(cfg, channel=_Object(answer), quiet=True, evaluate=False)
    assert str(err.value) == needle or str(err.value).startswith(needle)

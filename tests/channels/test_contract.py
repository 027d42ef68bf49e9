"""The channel contract: built-ins keep shape and dtype; black boxes are checked on every call."""

import numpy as np
import pytest
import torch

from mfcomm.channels.contract import AWGN, BlackBox, RayleighBlockFading
from mfcomm.channels.counting import Counted
from mfcomm.channels.spec import make_channel
from mfcomm.errors import ChannelError


@pytest.mark.parametrize("channel", [AWGN(0.1), RayleighBlockFading(0.1)])
def test_builtin_channels_keep_shape_and_dtype(channel):
    y = channel(torch.ones(7, 3, dtype=torch.complex64))
    assert y.shape == (7, 3) and y.dtype == torch.complex64


def test_builtin_channels_are_differentiable():
    x = torch.ones(4, 2, dtype=torch.complex64, requires_grad=True)
    RayleighBlockFading(0.1)(x).abs().sum().backward()
    assert x.grad is not None


def _box(func):
    return BlackBox(func, name="box.py:f")


def test_black_box_round_trip_numpy():
    ch = _box(lambda x: (2 * x).astype(np.complex64))
    x = torch.randn(5, 2, dtype=torch.complex64)
    assert torch.allclose(ch(x), 2 * x)
    assert not ch.differentiable


@pytest.mark.parametrize(
    "func, message",
    [
        (lambda x: x[:, :1], "shape"),
        (lambda x: x.astype(np.complex128), "dtype complex128"),
        (lambda x: x.real.astype(np.float32), "dtype float32"),
        (lambda x: np.full_like(x, np.nan), "non-finite"),
        (lambda x: x.tolist(), "list"),
        (lambda x: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_black_box_violations_name_the_channel_and_the_problem(func, message):
    with pytest.raises(ChannelError, match=message) as err:
        _box(func)(torch.ones(3, 2, dtype=torch.complex64))
    assert "box.py:f" in str(err.value) and "\n" not in str(err.value)


def test_load_user_function(tmp_path):
    path = tmp_path / "chan.py"
    path.write_text("import numpy as np\ndef f(x):\n    return x\n")
    ch = make_channel(f"{path}:f", None)
    x = torch.randn(2, 2, dtype=torch.complex64)
    assert torch.equal(ch(x), x)
    with pytest.raises(ChannelError, match="no function g"):
        make_channel(f"{path}:g", None)
    with pytest.raises(ChannelError, match="not found"):
        make_channel(f"{tmp_path}/missing.py:f", None)
    with pytest.raises(ChannelError, match="unknown channel"):
        make_channel("nosuch", 0.1)


def test_counted_counts_symbols():
    ch = Counted(AWGN(0.1))
    ch(torch.zeros(10, 3, dtype=torch.complex64))
    ch(torch.zeros(5, 3, dtype=torch.complex64))
    assert ch.uses == 45

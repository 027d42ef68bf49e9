"""Transmitter normalisation and receiver shapes."""

import pytest
import torch

from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter


@pytest.mark.parametrize("hidden", [[], [32]])
def test_average_energy_is_exactly_one_over_all_messages(hidden):
    torch.manual_seed(0)
    tx = Transmitter(16, 3, hidden)
    with torch.no_grad():
        tx.embedding.weight.mul_(torch.linspace(0.1, 5.0, 16).unsqueeze(1))  # very unequal energies
        c = tx.codebook()
    assert float(c.abs().square().mean()) == pytest.approx(1.0, abs=1e-6)
    # independent of batch composition: a batch of one message gets the same codeword
    assert torch.equal(tx(torch.zeros(5, dtype=torch.long)), c[0].expand(5, 3))


def test_per_message_energy():
    tx = Transmitter(8, 4, normalization="per-message")
    with torch.no_grad():
        energy = tx.codebook().abs().square().sum(dim=1)
    assert torch.allclose(energy, torch.full((8,), 4.0), atol=1e-5)


def test_real_signalling_has_zero_imaginary_parts_and_unit_energy_per_real_use():
    tx = Transmitter(16, 7, real=True)
    with torch.no_grad():
        c = tx.codebook()
    assert c.dtype == torch.complex64 and torch.all(c.imag == 0)
    assert float(c.real.square().mean()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("equalizer", [False, True])
@pytest.mark.parametrize("real", [False, True])
def test_receiver_logits_shape(equalizer, real):
    rx = Receiver(16, 4, (32, 32), equalizer=equalizer, real=real)
    y = torch.randn(10, 4, dtype=torch.complex64)
    out = rx(y)
    assert out.shape == (10, 16) and out.dtype == torch.float32 and torch.isfinite(out).all()


def test_real_receiver_ignores_imaginary_parts():
    torch.manual_seed(0)
    rx = Receiver(16, 7, (16,), real=True)
    y = torch.randn(6, 7, dtype=torch.complex64)
    assert torch.equal(rx(y), rx(torch.complex(y.real, torch.randn(6, 7))))

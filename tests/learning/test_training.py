"""Small end-to-end trainings: model-free against model-based, and through a pure-NumPy black box."""

import numpy as np
import pytest
import torch

from mfcomm.channels.contract import BlackBox
from mfcomm.config.files import configure
from mfcomm.errors import ConfigError
from mfcomm.evaluation.ser import learned_ser
from mfcomm.experiment.runs import train
from mfcomm.learning.model_based import train_model_based
from mfcomm.system.build import build_system

AWGN_10DB = {
    "channel": "awgn",
    "messages": 16,
    "channel_uses": 2,
    "snr_db": 10.0,
    "iterations": 1500,
    "keep_best": False,
}  # the learned systems themselves, never swapped for the classical one


def _ser(method, **extra):
    run = train(configure(overrides={**AWGN_10DB, "method": method, **extra}), quiet=True)
    return run


@pytest.mark.integration
def test_model_free_is_within_a_factor_of_model_based_on_awgn():
    mb, mf = _ser("model-based"), _ser("model-free")
    # stated factor: 1.5x at 1500 iterations, compared on confidence bounds (not point estimates)
    assert mf.ser.ci_low <= 1.5 * mb.ser.ci_high, (mf.ser, mb.ser)
    # both beat QPSK x2 (the same rate), whose closed-form SER at 10 dB is 3.1e-3, or come close
    assert mb.ser.ser < 4e-3 and mf.ser.ser < 6e-3
    c = mf.cfg  # receiver steps and transmitter steps (tx_batch x K transmissions), n symbols each
    assert mf.channel_uses_spent == 1500 * (c.rx_steps * c.batch_size + c.tx_steps * c.tx_batch * c.perturbations) * 2
    batch = mb.cfg.batch_size
    assert mb.channel_uses_spent == 1500 * batch * 2


class NumpyAWGN:
    """A channel the trainer cannot differentiate: pure NumPy, its own noise (Es/N0 = 10 dB)."""

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        w = self.rng.standard_normal((*x.shape, 2), dtype=np.float32) * np.sqrt(0.05, dtype=np.float32)
        return x + w.view(np.complex64)[..., 0]


@pytest.mark.integration
def test_model_free_trains_through_a_pure_numpy_channel():
    torch.manual_seed(0)
    cfg = configure(overrides={**AWGN_10DB, "iterations": 1500})
    tx, rx = build_system(cfg)
    channel = BlackBox(NumpyAWGN(), "numpy-awgn")
    from mfcomm.learning.model_free import train_model_free

    train_model_free(tx, rx, channel, cfg, log=lambda *_: None)
    est = learned_ser(tx, rx, channel)
    assert est.ser < 6e-3, est  # the same bound as on the differentiable AWGN channel above
    with pytest.raises(ConfigError, match="no gradient"):
        train_model_based(tx, rx, channel, cfg, log=lambda *_: None)


def test_same_seed_same_run():
    a = train(configure(overrides={**AWGN_10DB, "iterations": 30}), quiet=True, evaluate=False)
    b = train(configure(overrides={**AWGN_10DB, "iterations": 30}), quiet=True, evaluate=False)
    assert torch.equal(a.tx.codebook(), b.tx.codebook())
    assert {k: v for k, v in a.metrics[-1].items() if k != "seconds"} == {
        k: v for k, v in b.metrics[-1].items() if k != "seconds"
    }


@pytest.mark.integration
def test_one_transmission_trains_both_networks_when_the_receiver_learns_from_it():
    cfg = configure(
        overrides={
            **AWGN_10DB,
            "iterations": 1500,
            "rx_steps": 0,
            "rx_on_tx_batch": True,
            "loss_baseline": "batch",
            "finetune_iterations": 300,
        }
    )
    run = train(cfg, quiet=True)
    assert run.channel_uses_spent == (1500 + 300) * cfg.batch_size * 2
    assert run.ser.ser < 4e-3, run.ser  # the model-based bound above, with the same channel uses per iteration

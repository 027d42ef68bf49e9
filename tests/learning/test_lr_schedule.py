"""The learning-rate schedule (mfcomm.learning.lr_schedule): the cosine decay and the transmitter's warm-up, in
closed form and as training runs them."""

import math

import pytest
import torch

from mfcomm.channels.contract import AWGN
from mfcomm.config.files import configure
from mfcomm.learning import lr_schedule, model_based, model_free
from mfcomm.system.build import build_system

# --- 5. the cosine schedule and the transmitter's warm-up -------------------------------------------------


def _cosine(k: int, steps: int, ratio: float) -> float:
    """Our closed form after k of ``steps`` steps: half a cosine from 1 (k = 0) to ``ratio`` (k = steps), then
    ``ratio``."""
    if k >= steps:
        return ratio
    return ratio + (1 - ratio) * (1 + math.cos(math.pi * k / steps)) / 2


def _warm(k: int, warmup: int) -> float:
    """Linear ramp from 0 over the first ``warmup`` steps."""
    return min(1.0, k / warmup) if warmup else 1.0


def test_cosine_rates_after_k_of_n_steps_are_base_times_the_closed_form_then_hold_at_the_final_ratio():
    from types import SimpleNamespace

    a = torch.optim.Adam(
        [
            {"params": [torch.zeros(2, requires_grad=True)], "lr": 1.0},
            {"params": [torch.zeros(3, requires_grad=True)], "lr": 1.0},
        ]
    )
    b = torch.optim.Adam([torch.zeros(4, requires_grad=True)], lr=1.0)
    steps, ratio = 40, 0.05
    cfg = SimpleNamespace(lr_schedule="cosine", iterations=steps, lr_final_ratio=ratio)
    for k in range(61):  # iteration k + 1 runs after k steps
        lr_schedule.set_rates(a, [1e-3, 3e-3], k + 1, cfg, [0, 10])
        lr_schedule.set_rates(b, [5e-3], k + 1, cfg)
        got = [g["lr"] for g in a.param_groups] + [g["lr"] for g in b.param_groups]
        want = [
            1e-3 * _cosine(k, steps, ratio),
            3e-3 * _cosine(k, steps, ratio) * _warm(k, 10),
            5e-3 * _cosine(k, steps, ratio),
        ]
        assert got == pytest.approx(want, rel=1e-12, abs=0), k
    assert b.param_groups[0]["lr"] == pytest.approx(ratio * 5e-3, rel=1e-12)
    assert _cosine(steps // 2, steps, ratio) == pytest.approx((1 + ratio) / 2)
    constant = SimpleNamespace(lr_schedule="constant", iterations=steps, lr_final_ratio=ratio)
    for k in (0, 20, 60):
        lr_schedule.set_rates(b, [2e-3], k + 1, constant)
        assert b.param_groups[0]["lr"] == 2e-3


def _lr_trace(monkeypatch, module, **overrides):
    """The learning rates each training iteration ran at (read in the log), per optimiser and group, with
    the optimisers captured from ``module.set_rates``."""
    captured = []

    def spy(optimizer, *args, **kwargs):
        if all(optimizer is not o for o in captured):
            captured.append(optimizer)
        return lr_schedule.set_rates(optimizer, *args, **kwargs)

    monkeypatch.setattr(module, "set_rates", spy)
    cfg = configure(
        overrides={
            "iterations": 20,
            "log_every": 1,
            "lr_schedule": "cosine",
            "lr_final_ratio": 0.1,
            "rx_lr": 2e-3,
            "tx_lr": 4e-3,
            **overrides,
        }
    )
    torch.manual_seed(0)
    tx, rx = build_system(cfg)
    trace = []

    def log(it, _):
        trace.append((it, [g["lr"] for opt in captured for g in opt.param_groups]))

    channel = AWGN(cfg.n0, torch.Generator().manual_seed(0))
    if cfg.method == "model-free":
        model_free.train_model_free(tx, rx, channel, cfg, log)
    else:
        model_based.train_model_based(tx, rx, channel, cfg, log)
    return cfg, trace


@pytest.mark.parametrize("warmup", [0, 8])
@pytest.mark.parametrize("method", ["model-free", "model-based"])
def test_training_iteration_k_runs_at_base_times_cosine_of_k_minus_1_with_the_tx_warmup_ramp(
    monkeypatch, method, warmup
):
    _cfg, trace = _lr_trace(
        monkeypatch, model_free if method == "model-free" else model_based, method=method, tx_warmup=warmup
    )
    assert [it for it, _ in trace] == list(range(1, 21))
    for it, lrs in trace:
        c = _cosine(it - 1, 20, 0.1)
        tx = 4e-3 * c * _warm(it - 1, warmup)
        # model-free: the receiver's optimiser, then the transmitter's; model-based: one, groups tx then rx
        want = [2e-3 * c, tx] if method == "model-free" else [tx, 2e-3 * c]
        assert lrs == pytest.approx(want, rel=1e-12, abs=0), it

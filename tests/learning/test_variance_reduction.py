"""Variance reduction keeps the estimator's mean: each variant against the plain estimator, within CIs.

Each variant's mean gradient (many independent estimates) is compared with the plain Eq. 8 estimate's
mean coordinate by coordinate; with 32 coordinates and |z| < 4.5 the chance of a false failure is below
2e-4. A deliberately biased baseline (built from the sample's own loss) must fail the same check.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from mfcomm.channels.contract import AWGN
from mfcomm.learning.estimator import LossBaseline, perturb, sigma2_at, surrogate
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

SIGMA2, ESTIMATES, TRANSMISSIONS = 0.1, 2000, 512


@pytest.fixture(scope="module")
def system():
    torch.manual_seed(0)
    tx, rx, channel = Transmitter(8, 2), Receiver(8, 2, (32,)), AWGN(0.2)
    opt = torch.optim.Adam([*tx.parameters(), *rx.parameters()], lr=1e-2)
    for _ in range(100):
        m = torch.randint(8, (256,))
        loss = F.cross_entropy(rx(channel(tx(m))), m)
        opt.zero_grad()
        loss.backward()
        opt.step()
    rx.requires_grad_(False)
    return tx, rx, channel


def _estimate(system, perturbations, antithetic, baseline, link):
    """One Eq. 8 estimate into the transmitter's ``.grad``, as a transmitter step of
    :func:`mfcomm.learning.model_free.train_model_free` computes it from ``TRANSMISSIONS`` transmissions."""
    tx, rx, channel = system
    m = torch.randint(tx.messages, (TRANSMISSIONS // perturbations,))
    m_k = m.repeat_interleave(perturbations)
    xbar = tx(m_k)
    x_p = perturb(xbar, SIGMA2, tx.real, perturbations, antithetic)
    with torch.no_grad():
        losses = F.cross_entropy(rx(channel(x_p)), m_k, reduction="none")
    fed_back = link(losses).view(-1, perturbations)
    tx.zero_grad()
    surrogate(fed_back - baseline(fed_back, m), x_p, xbar, SIGMA2, tx.real).backward()


def _mean_and_se(system, perturbations=1, antithetic=False, baseline="none", seed=1, link=None):
    tx = system[0]
    torch.manual_seed(seed)
    b = LossBaseline(baseline, tx.messages, antithetic) if isinstance(baseline, str) else baseline
    grads = []
    for i in range(ESTIMATES + 20):
        _estimate(system, perturbations, antithetic, b, link or FeedbackLink())
        if i >= 20:  # the running baseline's warm-up
            grads.append(tx.embedding.weight.grad.flatten().clone())
    g = torch.stack(grads)
    return g.mean(0), g.std(0) / math.sqrt(len(g))


@pytest.fixture(scope="module")
def plain(system):
    return _mean_and_se(system)


def _max_z(a, b):
    return float(((a[0] - b[0]) / torch.sqrt(a[1] ** 2 + b[1] ** 2)).abs().max())


@pytest.mark.parametrize(
    "variant",
    [
        {"baseline": "batch"},
        {"baseline": "running"},
        {"perturbations": 4, "baseline": "message"},
        {"perturbations": 2, "antithetic": True},
        {"perturbations": 4, "antithetic": True, "baseline": "message"},
        {"perturbations": 2, "antithetic": True, "baseline": "batch"},
    ],
    ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()),
)
def test_variant_mean_agrees_with_plain_estimator(system, plain, variant):
    assert _max_z(_mean_and_se(system, **variant), plain) < 4.5


class HalfOwnLoss(LossBaseline):
    """Biased on purpose: a baseline built from the sample's own loss (halves the gradient's mean)."""

    def __call__(self, losses, m):
        return 0.5 * losses


def test_the_check_detects_a_biased_baseline(system, plain):
    assert _max_z(_mean_and_se(system, baseline=HalfOwnLoss("none", 8)), plain) > 4.5


def test_quantized_feedback_is_close_and_noisy_feedback_is_unbiased(system, plain):
    assert _max_z(_mean_and_se(system, link=FeedbackLink("noisy", noise=0.1)), plain) < 4.5  # zero-mean noise
    fine = _mean_and_se(system, link=FeedbackLink("quantized", bits=8))
    assert float(F.cosine_similarity(fine[0], plain[0], dim=0)) > 0.95


def test_quantizer_levels_and_bit_count():
    link = FeedbackLink("quantized", bits=2, cells="uniform")
    losses = torch.tensor([0.0, 0.26, 0.5, 0.74, 1.0])
    assert torch.allclose(link(losses), torch.tensor([0.125, 0.375, 0.625, 0.625, 0.875]))
    assert link.bits_sent == 2 * 5 + 64


def test_sigma2_schedule_is_geometric():
    assert sigma2_at(1, 101, 0.2, 0.02) == pytest.approx(0.2)
    assert sigma2_at(101, 101, 0.2, 0.02) == pytest.approx(0.02)
    assert sigma2_at(51, 101, 0.2, 0.02) == pytest.approx(math.sqrt(0.2 * 0.02))
    assert sigma2_at(7, 10, 0.1, None) == 0.1

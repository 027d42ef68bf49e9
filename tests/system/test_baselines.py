"""Baselines against closed forms and brute-force ML detection."""

import math

import pytest
import torch
from scipy.stats import norm

from mfcomm.channels.contract import AWGN, RayleighBlockFading
from mfcomm.conventions import ebno_db_to_n0, snr_db_to_n0
from mfcomm.evaluation.ser import clopper_pearson, monte_carlo
from mfcomm.system.baselines import baseline_errors, classical_baseline, closed_form_ser, hamming74_baseline


def _ci(baseline, channel, messages, confidence=0.999):
    est = monte_carlo(
        baseline_errors(baseline, channel), target_errors=10**9, min_messages=messages, max_messages=messages
    )
    return clopper_pearson(est.errors, est.messages, confidence)


@pytest.mark.parametrize(
    "messages, uses, snr_db, channel",
    [
        (16, 1, 12.0, "awgn"),
        (64, 1, 16.0, "awgn"),
        (16, 2, 8.0, "awgn"),
        (16, 4, 5.0, "awgn"),
        (16, 1, 20.0, "rbf"),
        (16, 4, 15.0, "rbf"),
        (16, 2, 15.0, "rbf"),
    ],
)
def test_monte_carlo_agrees_with_closed_form(messages, uses, snr_db, channel):
    torch.manual_seed(0)
    baseline = classical_baseline(messages, uses)
    n0 = snr_db_to_n0(snr_db)
    ch = AWGN(n0) if channel == "awgn" else RayleighBlockFading(n0)
    est = _ci(baseline, ch, 400_000)
    exact = closed_form_ser(baseline, channel, n0)
    assert est.ci_low <= exact <= est.ci_high, (est, exact)


def test_sionna_hard_decisions_are_brute_force_ml():
    torch.manual_seed(0)
    baseline = classical_baseline(16, 1)
    y = torch.randn(20_000, 1, dtype=torch.complex64)
    h = torch.randn(20_000, 1, dtype=torch.complex64)
    brute = (y - h * baseline.codebook[:, 0]).abs().argmin(dim=1)  # argmin_m |y - h c_m|
    assert torch.equal(baseline.detect(y, h), brute)


def test_hamming74_soft_ml_is_nearest_codeword_and_within_its_bounds():
    torch.manual_seed(0)
    baseline = hamming74_baseline()
    codebook = baseline.codebook.real
    assert int(torch.cdist(codebook, codebook).add(torch.eye(16) * 99).min().square().round()) == 12  # d_min 3
    y = torch.randn(5000, 7, dtype=torch.complex64)
    assert torch.equal(baseline.detect(y, None), torch.cdist(y.real, codebook).argmin(dim=1))
    # ML block error lies between the nearest-neighbour bound and the union bound (weights 7, 7, 1)
    n0 = ebno_db_to_n0(5.0, bits=4, channel_uses=7)
    lower = norm.sf(math.sqrt(6 / n0))
    upper = 7 * norm.sf(math.sqrt(6 / n0)) + 7 * norm.sf(math.sqrt(8 / n0)) + norm.sf(math.sqrt(14 / n0))
    est = _ci(baseline, AWGN(n0), 400_000)
    assert lower <= est.ci_high and est.ci_low <= upper
    assert est.ser > 2 * lower  # several nearest neighbours: well above the single-pair bound


def test_no_baseline_where_none_is_defined():
    assert classical_baseline(16, 3) is None  # 4 bits do not split over 3 uses
    assert classical_baseline(8, 1).name == "8-PSK"  # odd bits per use: PSK (8-QAM is not square)
    assert classical_baseline(16, 7, "real").name.startswith("Hamming")
    assert classical_baseline(16, 6, "real") is None


@pytest.mark.parametrize("messages, uses", [(16, 4), (16, 2), (64, 3)])
def test_pilot_code_detector_is_brute_force_ml_without_h(messages, uses):
    # y ~ CN(0, x x^H + n0 I) when h ~ CN(0, 1) is unknown: the detector must pick the codeword of largest
    # likelihood, computed here from the full covariance; (16, 2) is pilot + 16-QAM, of unequal energies
    torch.manual_seed(0)
    n0 = 0.05
    baseline = classical_baseline(messages, uses, fading=True, n0=n0)
    c = baseline.codebook.to(torch.complex128)
    assert baseline.name.startswith("pilot + ") and torch.allclose(c[:, 0], c[0, 0].expand(messages))
    assert abs(c.abs().square().sum(dim=1).mean().item() - uses) < 1e-5  # unit average energy per use
    m = torch.randint(messages, (2000,))
    h = torch.randn(2000, 1, dtype=torch.complex128)
    y = h * c[m] + math.sqrt(n0) * torch.randn(2000, uses, dtype=torch.complex128)
    cov = c.unsqueeze(2) * c.conj().unsqueeze(1) + n0 * torch.eye(uses)  # (M, n, n)
    quad = torch.einsum("bi,mij,bj->bm", y.conj(), torch.linalg.inv(cov), y).real
    brute = (-quad - torch.linalg.slogdet(cov).logabsdet).argmax(dim=1)
    assert torch.equal(baseline.detect(y.to(torch.complex64), None), brute)
    assert (brute != m).float().mean() < 0.5  # the code is identifiable without h: BPSK x n alone is not


def test_fading_baseline_needs_room_for_a_pilot():
    assert classical_baseline(16, 1, fading=True).name == "16-QAM"  # one use: the coherent per-symbol code
    assert classical_baseline(16, 7, "real", fading=True).name.startswith("Hamming")
    assert classical_baseline(16, 4, fading=True).name == "pilot + QPSK x2"
    assert classical_baseline(64, 3, fading=True).name == "pilot + 8-PSK x2"

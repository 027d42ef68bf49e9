"""SNR conventions against Sionna's own ``ebnodb2no`` and against the noise the channels draw."""

import math
import subprocess
import sys

import pytest
import torch
from scipy.stats import chi2

from mfcomm.channels.contract import AWGN, RayleighBlockFading
from mfcomm.conventions import ebno_db_to_n0, ebno_db_to_snr_db, snr_db_to_ebno_db, snr_db_to_n0
from mfcomm.sionna_import import phy


@pytest.mark.parametrize("ebno_db, bits, uses", [(0.0, 4, 2), (7.5, 4, 1), (-2.0, 4, 4), (3.0, 6, 3)])
def test_ebno_matches_sionna(ebno_db, bits, uses):
    expected = float(phy().utils.ebnodb2no(ebno_db, num_bits_per_symbol=bits // uses, coderate=1.0))
    assert ebno_db_to_n0(ebno_db, bits, uses) == pytest.approx(expected, rel=1e-6)


def test_snr_and_ebno_agree():
    for snr in (-3.0, 0.0, 10.0, 20.0):
        ebno = snr_db_to_ebno_db(snr, 4, 2)
        assert ebno_db_to_snr_db(ebno, 4, 2) == pytest.approx(snr)
        assert ebno_db_to_n0(ebno, 4, 2) == pytest.approx(snr_db_to_n0(snr))
    assert snr_db_to_n0(10.0) == pytest.approx(0.1)


def _variance_ci(samples: torch.Tensor, dof_per_sample: int, confidence: float = 0.999):
    """Chi-square interval for E|w|^2 from zero-mean Gaussian samples with dof_per_sample real parts each
    (sum |w|^2 / (E|w|^2 / dof_per_sample) is chi-square with numel * dof_per_sample degrees of freedom)."""
    dof = samples.numel() * dof_per_sample
    s = float(samples.abs().square().sum()) * dof_per_sample
    return s / chi2.ppf(1 - (1 - confidence) / 2, dof), s / chi2.ppf((1 - confidence) / 2, dof)


def test_awgn_noise_is_n0_per_complex_symbol_split_evenly():
    torch.manual_seed(0)
    n0 = snr_db_to_n0(7.0)
    x = torch.zeros(50_000, 4, dtype=torch.complex64)
    w = AWGN(n0)(x)
    low, high = _variance_ci(w, 2)
    assert low <= n0 <= high
    re_low, re_high = _variance_ci(w.real, 1)  # N0/2 on each real dimension
    assert re_low <= n0 / 2 <= re_high


def test_rayleigh_gain_is_unit_variance_and_constant_over_a_block():
    torch.manual_seed(1)
    ch = RayleighBlockFading(n0=0.0)
    x = torch.ones(40_000, 3, dtype=torch.complex64)
    y, h = ch.sample(x)
    assert torch.allclose(y, h.expand_as(y))  # one h per message, the same over its n symbols
    low, high = _variance_ci(h, 2)
    assert low <= 1.0 <= high
    assert abs(float(h.mean().abs())) < 5 * math.sqrt(1 / 40_000)


def test_importing_sionna_leaves_torch_seeded():
    """Sionna's import re-seeds torch's generators from entropy; through ``phy()`` a seeded run stays
    reproducible (in a fresh interpreter, where the import really happens)."""
    code = (
        "import torch; from mfcomm.sionna_import import phy; torch.manual_seed(0); a = torch.rand(3); "
        "torch.manual_seed(0); phy(); print(torch.equal(torch.rand(3), a), 'sionna.phy' in __import__('sys').modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True"]

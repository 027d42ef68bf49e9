"""Where training starts (mfcomm.system.initial): the classical codebook against independent references, the
M-PSK code against Craig's integral, and an earlier run's weights (``--init RUN_DIR``).

Statistical checks compare Monte Carlo estimates (fixed seeds) with references through a two-sided 99.9%
Clopper-Pearson interval, the convention of tests/system/test_baselines.py: at 95% one of the five such
comparisons here would fail by chance for about one seed in four (QPSK x2 at seed 0 does: 701 errors in 200,000
where 625 are expected, +3.0 sigma; 10 million messages over ten other seeds give +1.3 sigma). References are
computed here from textbook formulas, not from mfcomm.
"""

import json
import math
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from scipy import integrate
from scipy.stats import norm

from mfcomm import cli
from mfcomm.channels.contract import AWGN
from mfcomm.config.files import configure
from mfcomm.conventions import snr_db_to_n0
from mfcomm.errors import ConfigError
from mfcomm.evaluation.ser import clopper_pearson, monte_carlo
from mfcomm.experiment import runs
from mfcomm.system.baselines import Baseline, baseline_errors, classical_baseline, closed_form_ser, psk_baseline
from mfcomm.system.build import build_system, build_transmitter

TINY = {"compare_baseline": False, "eval_max_messages": 100_000}
"""Options that keep a run's evaluation at the 100,000-message minimum and skip the baseline."""


# --- independent references -------------------------------------------------------------------------------


def q(x: float) -> float:
    return float(norm.sf(x))


def psk_ser_exact(order: int, es_n0: float) -> float:
    """Exact M-PSK SER on AWGN (Craig's integral):
    P = (1/pi) int_0^{(M-1)pi/M} exp(-Es/N0 sin^2(pi/M) / sin^2(theta)) dtheta."""
    s = math.sin(math.pi / order) ** 2
    value, _ = integrate.quad(
        lambda t: math.exp(-es_n0 * s / math.sin(t) ** 2),
        0.0,
        (order - 1) * math.pi / order,
        epsabs=1e-14,
        epsrel=1e-10,
        limit=200,
    )
    return value / math.pi


def square_qam_ser(order: int, es_n0: float) -> float:
    """Exact square M-QAM SER on AWGN: 1 - (1 - 2(1 - 1/sqrt(M)) Q(sqrt(3 Es/N0 / (M - 1))))^2."""
    p = 2.0 * (1.0 - 1.0 / math.sqrt(order)) * q(math.sqrt(3.0 * es_n0 / (order - 1)))
    return 1.0 - (1.0 - p) ** 2


def message_ser(symbol_ser: float, uses: int) -> float:
    """A message of ``uses`` independent symbols is right only if every symbol is."""
    return 1.0 - (1.0 - symbol_ser) ** uses


CONFIDENCE = 0.999


def ml_ser_ci(codebook: torch.Tensor, detect, snr_db: float, messages: int = 200_000, seed: int = 0):
    """Two-sided Clopper-Pearson interval (``CONFIDENCE``) of the SER of ``codebook`` with detector ``detect``
    on AWGN."""
    n0 = snr_db_to_n0(snr_db)
    channel = AWGN(n0, torch.Generator().manual_seed(seed + 1))
    counter = baseline_errors(Baseline("under test", codebook, detect), channel, torch.Generator().manual_seed(seed))
    est = monte_carlo(counter, target_errors=10**9, min_messages=messages, max_messages=messages)
    return clopper_pearson(est.errors, est.messages, CONFIDENCE)


def min_distance2(codebook: torch.Tensor) -> float:
    """Squared minimum Euclidean distance over all pairs of codewords, by brute force."""
    points = torch.view_as_real(codebook).reshape(len(codebook), -1).double()
    d2 = torch.cdist(points, points).square()
    d2.fill_diagonal_(float("inf"))
    return float(d2.min())


def test_references_used_here_agree_with_textbook_special_cases():
    # Craig's integral at M=4 is QPSK's exact 2Q(a) - Q(a)^2, a = sqrt(Es/N0); at M=2 BPSK's Q(sqrt(2 Es/N0))
    for es_n0 in (1.0, 10.0, 31.6):
        a = math.sqrt(es_n0)
        assert psk_ser_exact(4, es_n0) == pytest.approx(2 * q(a) - q(a) ** 2, rel=1e-8)
        assert psk_ser_exact(2, es_n0) == pytest.approx(q(math.sqrt(2 * es_n0)), rel=1e-8)
        assert square_qam_ser(4, es_n0) == pytest.approx(2 * q(a) - q(a) ** 2, rel=1e-12)
    assert message_ser(psk_ser_exact(4, 10.0), 2) == pytest.approx(3.13e-3, rel=2e-3)  # QPSK x2 at 10 dB


# --- 1. --init classical ----------------------------------------------------------------------------------

CLASSICAL_CASES = {
    # (M, n, signalling): reference message SER at Es/N0 10 dB per use
    (16, 2, "complex"): lambda g: message_ser(2 * q(math.sqrt(g)) - q(math.sqrt(g)) ** 2, 2),  # QPSK x2
    (64, 2, "complex"): lambda g: message_ser(psk_ser_exact(8, g), 2),  # 8-PSK x2
    (16, 1, "complex"): lambda g: square_qam_ser(16, g),  # 16-QAM
}


@pytest.mark.parametrize("messages, uses, signalling", list(CLASSICAL_CASES))
def test_init_classical_codebook_is_the_baseline_to_1e6_and_its_ml_ser_ci999_holds_the_exact_ser(
    messages, uses, signalling
):
    torch.manual_seed(0)
    cfg = configure(
        overrides={"messages": messages, "channel_uses": uses, "signalling": signalling, "init": "classical"}
    )
    baseline = classical_baseline(messages, uses, signalling)
    with torch.no_grad():
        built = build_transmitter(cfg).codebook()
    assert built.shape == baseline.codebook.shape
    assert (built - baseline.codebook).abs().max() <= 1e-6  # exact up to float32 renormalisation
    es_n0 = 10.0 ** (10.0 / 10.0)
    exact = CLASSICAL_CASES[messages, uses, signalling](es_n0)
    if baseline.bits_per_symbol is not None:  # the module's closed form, where it has one, is the same number
        assert closed_form_ser(baseline, "awgn", snr_db_to_n0(10.0)) == pytest.approx(exact, rel=1e-9)
    est = ml_ser_ci(built, baseline.detect, 10.0)
    assert est.ci_low <= exact <= est.ci_high, (est, exact)


def test_init_classical_real_7_uses_is_hamming74_exactly_and_its_ser_lies_within_the_union_bounds():
    cfg = configure(overrides={"messages": 16, "channel_uses": 7, "signalling": "real", "init": "classical"})
    with torch.no_grad():
        built = build_transmitter(cfg).codebook()
    # independent Hamming(7,4): every codeword of a linear [7,4,3] code, BPSK-mapped; compare as sets
    info = (np.arange(16)[:, None] >> np.arange(3, -1, -1)) & 1
    parity = np.stack(
        [
            info[:, 0] ^ info[:, 1] ^ info[:, 3],
            info[:, 0] ^ info[:, 2] ^ info[:, 3],
            info[:, 1] ^ info[:, 2] ^ info[:, 3],
        ],
        axis=1,
    )
    ours = {tuple(1 - 2 * row) for row in np.concatenate([info, parity], axis=1)}
    assert torch.equal(built, classical_baseline(16, 7, "real").codebook)
    assert torch.all(built.imag == 0)
    assert {tuple(int(v) for v in row) for row in built.real.round()} == ours
    assert round(min_distance2(built.real.to(torch.complex64))) == 12  # d_min 3 in Hamming weight
    # 3 dB per real use: nearest-neighbour lower bound <= ML SER <= union bound (weights 3:7, 4:7, 7:1)
    n0 = snr_db_to_n0(3.0)
    lower = q(math.sqrt(6 / n0))
    upper = 7 * q(math.sqrt(6 / n0)) + 7 * q(math.sqrt(8 / n0)) + q(math.sqrt(14 / n0))
    est = ml_ser_ci(built, classical_baseline(16, 7, "real").detect, 3.0)
    assert lower <= est.ci_high and est.ci_low <= upper, (est, lower, upper)


def test_init_classical_with_a_hidden_layer_fits_the_baseline_within_1e2():
    torch.manual_seed(0)
    cfg = configure(overrides={"messages": 16, "channel_uses": 2, "tx_hidden": [32], "init": "classical"})
    fitted = build_transmitter(cfg).codebook().detach()  # built with gradients on: the fit needs them
    random_start = build_transmitter(configure(overrides={"tx_hidden": [32], "init": "random"})).codebook().detach()
    target = classical_baseline(16, 2).codebook
    assert (fitted - target).abs().max() <= 1e-2
    assert (random_start - target).abs().max() > 0.1  # the fit did it, not a coincidence of the start


@pytest.mark.parametrize("uses", [3, 4])
def test_init_classical_on_fading_starts_at_the_pilot_code_that_the_baseline_detects_without_h(uses):
    cfg = configure(overrides={"messages": 16, "channel_uses": uses, "channel": "rbf", "init": "classical"})
    with torch.no_grad():
        built = build_transmitter(cfg).codebook()
    baseline = classical_baseline(16, uses, fading=True)
    assert baseline.name == "pilot + QPSK x2"  # on awgn, 16 messages in 3 uses have no classical code
    assert (built - baseline.codebook).abs().max() <= 1e-6


def test_init_classical_is_a_one_line_error_where_no_classical_code_exists():
    cfg = configure(overrides={"messages": 16, "channel_uses": 3, "init": "classical"})
    with pytest.raises(ConfigError, match="classical") as err:
        build_transmitter(cfg)
    assert "\n" not in str(err.value)


# --- 2. M-PSK against Craig's integral --------------------------------------------------------------------


def test_8psk_ml_ser_at_14db_ci999_holds_the_exact_integral():
    baseline = classical_baseline(8, 1)
    assert baseline is not None and baseline.name == "8-PSK"  # odd bits per use: PSK
    points = baseline.codebook[:, 0]
    assert torch.allclose(points.abs(), torch.ones(8))  # unit energy, 45 degrees apart
    angles = torch.sort(torch.remainder(torch.angle(points.to(torch.complex128)), 2 * math.pi)).values
    assert torch.allclose(torch.diff(angles), torch.full((7,), math.pi / 4, dtype=torch.float64), atol=1e-6)
    y = torch.randn(5000, 1, dtype=torch.complex64)  # the detector is nearest-point (ML on AWGN)
    assert torch.equal(baseline.detect(y, None), (y - points).abs().argmin(dim=1))
    exact = psk_ser_exact(8, 10**1.4)
    est = ml_ser_ci(baseline.codebook, baseline.detect, 14.0)
    assert est.ci_low <= exact <= est.ci_high, (est, exact)
    assert psk_baseline(8, 1, 3).codebook.equal(baseline.codebook)


# --- 3. --init RUN_DIR ------------------------------------------------------------------------------------


def _tiny_run(out, **extra):
    cfg = configure(overrides={"iterations": 20, "eval_messages": 100_000, **TINY, **extra})
    run = runs.train(cfg, quiet=True)
    runs.save(run, out)
    return out


def _assert_weights_equal(tx, rx, path):
    saved = load_file(path)
    for prefix, module in (("tx", tx), ("rx", rx)):
        state = module.state_dict()
        mine = {k[len(prefix) + 1 :]: v for k, v in saved.items() if k.startswith(prefix + ".")}
        assert set(mine) == set(state) and mine
        for key, value in state.items():
            assert torch.equal(value, mine[key]), key


def test_init_run_dir_starts_both_networks_from_its_saved_weights_and_rejects_other_shapes(tmp_path):
    first = _tiny_run(tmp_path / "first")
    torch.manual_seed(123)  # a different global stream: the weights must come from the file, not the seed
    tx, rx = build_system(configure(overrides={"init": str(first), "seed": 7}))
    _assert_weights_equal(tx, rx, first / "model.safetensors")
    # the in-process training path (per-role seeded networks) starts there too
    from mfcomm.learning import seeding as streams

    cfg = configure(overrides={"init": str(first), "seed": 7})
    _assert_weights_equal(streams.seeded_transmitter(cfg), streams.seeded_receiver(cfg), first / "model.safetensors")

    for overrides, key in (
        ({"messages": 4}, "messages"),
        ({"rx_hidden": [64]}, "rx_hidden"),
        ({"channel_uses": 4}, "channel_uses"),
    ):
        with pytest.raises(ConfigError, match=key) as err:
            build_system(configure(overrides={"init": str(first), **overrides}))
        assert "\n" not in str(err.value)
    with pytest.raises(ConfigError) as err:
        build_system(configure(overrides={"init": str(tmp_path / "no-such-run")}))
    assert "\n" not in str(err.value) and "no-such-run" in str(err.value)


def test_cli_init_dir_records_the_absolute_path_and_the_run_loads_after_that_dir_is_deleted(
    tmp_path, monkeypatch, capsys
):
    _tiny_run(tmp_path / "first")
    monkeypatch.chdir(tmp_path)
    assert (
        cli.main(["train", "--init", "first", "--iterations", "5", "--out", "second", "--quiet", "--no-baseline"]) == 0
    )
    absolute = str((tmp_path / "first").resolve())
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["init"] == absolute
    assert configure(tmp_path / "second" / "config.toml").init == absolute
    # a bad start directory is one line and writes nothing
    capsys.readouterr()
    assert cli.main(["train", "--init", "nowhere", "--iterations", "5", "--out", "third", "--quiet"]) != 0
    err = capsys.readouterr().err
    assert len([line for line in err.splitlines() if "error" in line]) == 1 and "Traceback" not in err
    assert not (tmp_path / "third").exists()
    shutil.rmtree(tmp_path / "first")
    loaded = runs.load(tmp_path / "second")
    assert loaded.cfg.init == absolute
    _assert_weights_equal(loaded.tx, loaded.rx, tmp_path / "second" / "model.safetensors")

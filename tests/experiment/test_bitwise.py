"""Bit-wise mode: labelling, demapper, BMD rate against a closed form, the model-free gradient against the
true one, coded evaluation against Sionna's published figure, export round trips, training, the CLI."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy import integrate

from mfcomm.channels.chain import build
from mfcomm.channels.counting import Counted
from mfcomm.channels.known_noise import AwgnEbnoRange, KnownNoise
from mfcomm.config.fields import Config
from mfcomm.config.files import configure
from mfcomm.conventions import snr_db_to_n0
from mfcomm.errors import ConfigError, MfcommError
from mfcomm.evaluation.coded import LdpcCode, LearnedModem, QamModem, bmd_rate_at, ebno_at_bler, simulate_coded
from mfcomm.evaluation.export import read_constellation_csv, to_sionna_constellation, write_constellation_csv
from mfcomm.evaluation.ser import clopper_pearson
from mfcomm.experiment import runs
from mfcomm.learning.estimator import LossBaseline, perturb, surrogate
from mfcomm.learning.examples import Bits
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.sionna_import import phy
from mfcomm.system.baselines import qam_points
from mfcomm.system.bitwise import (
    LearnedConstellation,
    NeuralDemapper,
    bits_to_indices,
    bmd_rate,
    group_bits,
    indices_to_bits,
    symbol_bce,
)


def test_labels_are_msb_first_and_invert():
    idx = torch.arange(64)
    bits = indices_to_bits(idx, 6)
    assert bits[5].tolist() == [0, 0, 0, 1, 0, 1]
    assert torch.equal(bits_to_indices(bits), idx)
    assert group_bits(torch.zeros(3, 12), 6).shape == (3, 2, 6)


def test_qam_init_is_sionnas_gray_qam_and_maps_like_sionnas_mapper():
    const = LearnedConstellation(6)
    assert torch.allclose(const.points().detach(), qam_points(6), atol=1e-6)
    bits = torch.randint(0, 2, (4, 60)).float()
    ours = LearnedModem(const, NeuralDemapper(6)).modulate(bits)
    assert torch.allclose(ours, QamModem(6).modulate(bits), atol=1e-6)
    sionna_custom = phy().mapping.Mapper(constellation=to_sionna_constellation(const.points().detach().numpy()))
    assert torch.allclose(ours, sionna_custom(bits), atol=1e-6)


def test_random_init_is_centred_unit_energy_and_seeded():
    a = LearnedConstellation(4, "random", torch.Generator().manual_seed(1)).points().detach()
    b = LearnedConstellation(4, "random", torch.Generator().manual_seed(1)).points().detach()
    assert torch.equal(a, b)
    assert abs(complex(a.mean())) < 1e-6 and abs(float(a.abs().square().mean()) - 1) < 1e-5


def test_bmd_rate_limits():
    bits = torch.randint(0, 2, (1000, 4)).float()
    perfect = symbol_bce((2 * bits - 1) * 50, bits).mean()
    clueless = symbol_bce(torch.zeros_like(bits), bits).mean()
    assert bmd_rate(float(perfect), 4) == pytest.approx(4.0, abs=1e-5)  # float32 rounding
    assert bmd_rate(float(clueless), 4) == pytest.approx(0.0, abs=1e-5)


def _bpsk_capacity(amplitude: float, sigma2: float) -> float:
    """Binary-input AWGN mutual information (bits), by numerical integration: the BMD rate of one QPSK axis."""

    def integrand(y: float) -> float:
        llr = 2 * amplitude * y / sigma2
        pdf = math.exp(-((y - amplitude) ** 2) / (2 * sigma2)) / math.sqrt(2 * math.pi * sigma2)
        return pdf * math.log2(1 + math.exp(-llr)) if llr > -500 else pdf * (-llr / math.log(2))

    s = math.sqrt(sigma2)
    return 1 - integrate.quad(integrand, amplitude - 12 * s, amplitude + 12 * s, limit=200)[0]


def test_bmd_rate_of_qpsk_matches_closed_form():
    """Monte Carlo BMD rate of Gray QPSK with Sionna's APP demapper within its 99.9% CI of the integral."""
    torch.manual_seed(0)
    ebno_db, rate, symbols = 2.0, 1.0, 200_000
    n0 = 1 / (10 ** (ebno_db / 10) * 2 * rate)
    reference = 2 * _bpsk_capacity(1 / math.sqrt(2), n0 / 2)
    modem = QamModem(2)
    bits = torch.randint(0, 2, (1, 2 * symbols)).float()
    y = modem.modulate(bits) + torch.randn(1, symbols, dtype=torch.complex64) * math.sqrt(n0)
    per_bit = torch.nn.functional.binary_cross_entropy_with_logits(
        modem.demap(y, torch.tensor(n0)), bits, reduction="none"
    ) / math.log(2)
    estimate = 2 * (1 - float(per_bit.mean()))
    half_width = 3.29 * 2 * float(per_bit.std()) / math.sqrt(per_bit.numel())
    assert abs(estimate - reference) < half_width
    torch.manual_seed(0)
    assert bmd_rate_at(modem, ebno_db, rate, symbols) == pytest.approx(estimate, abs=3 * half_width)


def test_model_free_gradient_matches_true_gradient():
    """The mean of 100 Eq. 8 estimates (from fed-back per-symbol BCEs only) equals the true BCE gradient w.r.t.
    the constellation up to its own sampling error: the squared distance stays below 4x the estimated
    variance of the mean (about 1x expected for an unbiased estimator; sigma2 = 0.01 makes the bias negligible),
    and that variance is small against the gradient itself, so a wrong sign or scale could not pass."""
    torch.manual_seed(0)
    const, demapper = LearnedConstellation(4), NeuralDemapper(4, [32])
    channel = KnownNoise(build("awgn", snr_db_to_n0(8.0)), snr_db_to_n0(8.0))
    task = Bits(4, 64)
    for _ in range(16):  # the true gradient of the expected BCE, from 262,144 symbols
        bits = task.draw(256, "cpu", None)
        y, n0 = channel(const(bits_to_indices(bits)))
        (symbol_bce(demapper(y, n0), bits).mean() / 16).backward()
    true = const.raw.grad.clone()
    estimates = []
    for _ in range(100):  # a transmitter step of train_model_free, up to its optimiser step
        baseline = LossBaseline("batch", 16)
        bits = task.draw(256, "cpu", None)
        xbar = task.send(const, task.repeat(bits, 1))  # (256, 64): one example per symbol
        x_p = perturb(xbar, 1e-2, const.real)
        with torch.no_grad():
            fed_back = FeedbackLink()(task.losses(demapper, channel(x_p), bits)).view(-1, 1)
        const.zero_grad()
        surrogate(fed_back - baseline(fed_back, task.indices(bits)), x_p, xbar, 1e-2, const.real).backward()
        estimates.append(const.raw.grad.clone())
    e = torch.stack(estimates)
    squared_error = float((e.mean(0) - true).square().sum())
    variance_of_mean = float(e.var(0).sum()) / len(estimates)
    assert squared_error < 4 * variance_of_mean, (squared_error, variance_of_mean)
    assert variance_of_mean < 0.05 * float(true.square().sum())


@pytest.mark.integration
def test_coded_qam_matches_sionna_tutorial_baseline():
    """Gray 64-QAM + APP + 5G LDPC (750, 1500) at Eb/N0 6 dB: Sionna's tutorial measured BLER 0.1084."""
    torch.manual_seed(1)
    point = simulate_coded(
        QamModem(6), LdpcCode(750, 1500, 6), 6.0, target_block_errors=10**9, max_blocks=1500, batch=500
    )
    est = clopper_pearson(point.block_errors, point.blocks, confidence=0.999)
    assert est.ci_low <= 0.1084 <= est.ci_high
    assert point.ber < point.bler


def test_ebno_at_bler_interpolates_and_declines():
    from mfcomm.evaluation.coded import CodedPoint

    pts = [CodedPoint(4.0, 0, 1, 100, 100), CodedPoint(5.0, 0, 1, 10, 1000), CodedPoint(6.0, 0, 1, 1, 1000)]
    assert ebno_at_bler(pts) == pytest.approx(5.0)
    assert ebno_at_bler(pts, 2e-3) == pytest.approx(5.0 + math.log10(5))
    assert ebno_at_bler(pts[:1]) is None


def test_ebno_at_bler_reads_a_point_without_errors_by_its_upper_bound():
    """No block errors at the next point: the crossing interpolates to that point's 95% Clopper-Pearson upper
    bound (1 - 0.025**(1/n), conservative), or sits at the point when even the bound is above the target."""
    from mfcomm.evaluation.coded import CodedPoint

    a, b = CodedPoint(5.0, 0, 1, 10, 100), CodedPoint(6.0, 0, 1, 0, 1000)
    upper = 1 - 0.025 ** (1 / 1000)
    assert ebno_at_bler([a, b]) == pytest.approx(5.0 + math.log10(0.1 / 1e-2) / math.log10(0.1 / upper), abs=1e-6)
    assert ebno_at_bler([a, CodedPoint(6.0, 0, 1, 0, 100)]) == 6.0


def test_export_round_trip_and_bad_csv(tmp_path):
    points = LearnedConstellation(4, "random", torch.Generator().manual_seed(3)).points().detach().numpy()
    write_constellation_csv(points, tmp_path / "c.csv")
    back = read_constellation_csv(tmp_path / "c.csv")
    assert np.allclose(back, points, atol=1e-7)
    sionna_const = to_sionna_constellation(back)
    assert np.allclose(sionna_const().numpy(), points, atol=1e-6)
    (tmp_path / "bad.csv").write_text("index,label,real,imag\n0,0,x,1\n")
    with pytest.raises(MfcommError, match="not a constellation CSV"):
        read_constellation_csv(tmp_path / "bad.csv")
    with pytest.raises(MfcommError, match="no such file"):
        read_constellation_csv(tmp_path / "missing.csv")


def _bits(**overrides) -> Config:
    return configure(overrides={"task": "bits", **overrides})


def test_config_validation():
    with pytest.raises(ConfigError, match="even bits_per_symbol"):
        _bits(bits_per_symbol=3)
    with pytest.raises(ConfigError, match="multiple of bits_per_symbol"):
        _bits(codeword_bits=1501)
    with pytest.raises(ConfigError, match="trains at one Eb/N0"):
        _bits(channel="awgn | adc(bits=4)")
    with pytest.raises(ConfigError, match="unknown option"):
        _bits(snr=3)
    with pytest.raises(ConfigError, match="the bits task takes perturbations = 1"):
        _bits(perturbations=4)
    with pytest.raises(ConfigError, match="2\\*\\*bits_per_symbol = 16 messages"):
        _bits(bits_per_symbol=4, messages=64)
    with pytest.raises(ConfigError, match="bits_per_symbol belongs to the bits task"):
        configure(overrides={"bits_per_symbol": 4})


def test_bits_defaults_and_an_ebno_without_a_range():
    """The bits task's defaults are Sionna's tutorial's; one Eb/N0 given is one Eb/N0, not a range's low end."""
    cfg = _bits()
    assert (cfg.messages, cfg.channel_uses, cfg.symbols, cfg.info_bits) == (64, 1, 250, 750)
    assert (cfg.ebno_db, cfg.ebno_db_max, cfg.batch_size, cfg.rx_lr_final) == (4.0, 8.0, 128, 3e-4)
    assert _bits(ebno_db=7.0).ebno_db_max is None
    assert cfg.n0 == pytest.approx(1 / (10**0.4 * 3))  # Eb/N0 counts b * code_rate = 3 information bits


def _small(**kw) -> Config:
    base = {
        "bits_per_symbol": 4,
        "codeword_bits": 400,
        "batch_size": 16,
        "iterations": 300,
        "finetune_iterations": 100,
        "ebno_db": 8.0,
        "rx_lr": 3e-3,
        "tx_lr": 3e-3,
        "eval_ebno_db": [8.0],
    }
    return _bits(**{**base, **kw})


@pytest.mark.parametrize("method", ["model-free", "model-based"])
def test_training_from_random_points_learns(method):
    """From a random constellation, training reaches most of Gray 16-QAM's BMD rate at 8 dB (3.39 bit/symbol),
    which the run measures as its baseline (against an independent estimate: sampling error about 2e-3)."""
    run = runs.train(_small(method=method, init="random"), quiet=True)
    assert run.bmd_rate[8.0] > 3.0
    assert run.baseline_bmd_rate is not None
    assert run.baseline_bmd_rate[8.0] == pytest.approx(bmd_rate_at(QamModem(4), 8.0, 0.5, 400_000), abs=0.02)
    assert run.channel_uses_spent == 100 * 16 * (400 if method == "model-free" else 300)


def test_model_free_trains_through_a_non_differentiable_chain():
    run = runs.train(_small(channel="awgn | adc(bits=5)", iterations=100, finetune_iterations=30), quiet=True)
    assert run.bmd_rate[8.0] > 2.5
    with pytest.raises(MfcommError, match="no gradient"):
        runs.train(_small(channel="awgn | adc(bits=5)", method="model-based"), quiet=True)


def test_awgn_range_draws_one_snr_per_codeword():
    ch = Counted(AwgnEbnoRange(4.0, 8.0, 3.0, torch.Generator().manual_seed(0)))
    _y, n0 = ch(torch.zeros(1000, 10, dtype=torch.complex64))
    ebno = 10 * torch.log10(1 / (n0 * 3))
    assert n0.shape == (1000, 1) and float(ebno.min()) >= 4.0 and float(ebno.max()) <= 8.0
    assert ch.uses == 10_000 and ch.name == "awgn(Eb/N0 4..8 dB)"
    assert not hasattr(ch.channel, "uses")  # Counted is the one place channel uses are counted


def _tiny(**kw) -> Config:
    return _small(bits_per_symbol=2, codeword_bits=120, iterations=20, finetune_iterations=0, batch_size=8, **kw)


def test_feedback_noise_reaches_the_transmitter_steps():
    """The noise std of the feedback link changes training; at the same seed, perfect feedback is repeatable."""

    def points(**kw) -> torch.Tensor:
        return runs.train(_tiny(**kw), quiet=True).tx.points().detach()

    perfect = points()
    assert torch.equal(perfect, points())
    small, large = points(feedback="noisy", feedback_noise=0.01), points(feedback="noisy", feedback_noise=5.0)
    assert not torch.allclose(perfect, large, atol=1e-4)
    assert not torch.allclose(small, large, atol=1e-4)


def _cli_train(out, *options: str) -> int:
    from mfcomm import cli

    tiny = ["--bits-per-symbol", "2", "--codeword-bits", "120", "--batch-size", "8", "--ebno-db", "6", "--quiet"]
    return cli.main(["bitwise", "train", *tiny, *options, "--out", str(out)])


def test_cli_feedback_noise_channel_timeout_and_log_every_reach_the_run(tmp_path, capsys):
    import tomllib

    out = tmp_path / "run"
    options = ["--feedback", "noisy", "--feedback-noise", "0.5", "--channel-timeout", "7.5", "--log-every", "4"]
    code = _cli_train(out, *options, "--iterations", "10", "--finetune-iterations", "3")
    assert code == 0, capsys.readouterr().err
    cfg = tomllib.loads((out / "config.toml").read_text())
    assert (cfg["feedback"], cfg["feedback_noise"], cfg["channel_timeout"], cfg["log_every"]) == ("noisy", 0.5, 7.5, 4)
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [int(row.split(",")[0]) for row in rows[1:]] == [4, 8, 10, 12, 13]  # every 4th, and each loop's last


def test_cli_channel_timeout_stops_a_hanging_black_box(tmp_path, capsys):
    (tmp_path / "box.py").write_text("import time\ndef f(x):\n    time.sleep(5)\n    return x\n")
    channel = ["--channel", f"{tmp_path / 'box.py'}:f", "--channel-timeout", "0.2"]
    code = _cli_train(tmp_path / "o", *channel, "--iterations", "1", "--finetune-iterations", "0")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "did not answer within 0.2 s" in err, err


def test_cli_train_evaluate_export(tmp_path, capsys):
    from mfcomm import cli

    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "bitwise",
                "train",
                "--bits-per-symbol",
                "2",
                "--codeword-bits",
                "120",
                "--ebno-db",
                "3:5",
                "--iterations",
                "20",
                "--finetune-iterations",
                "5",
                "--batch-size",
                "8",
                "--quiet",
                "--out",
                str(out),
            ]
        )
        == 0
    ), capsys.readouterr().err
    assert {
        "config.toml",
        "model.safetensors",
        "constellation.csv",
        "constellation.png",
        "summary.json",
        "metrics.csv",
    } <= {p.name for p in out.iterdir()}
    assert cli.main(["bitwise", "evaluate", str(out), "--ebno-db", "8:9:1", "--max-blocks", "50", "--quiet"]) == 0
    assert (out / "coded.csv").read_text().count("\n") == 5 and (out / "coded.png").is_file()
    capsys.readouterr()
    assert cli.main(["bitwise", "export", str(out)]) == 0 and "to_sionna_constellation" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--bits-per-symbol", "5"], "even bits_per_symbol"),
        (["train", "--ebno-db", "4:x"], "--ebno-db"),
        (["train", "--feedback-noise", "-1"], "feedback_noise must be a finite number in [0, 100], not -1"),
        (["train", "--channel-timeout", "inf"], "channel_timeout must be a finite number in [0, 86400], not inf"),
        (["train", "--log-every", "0"], "log_every must be a finite number in [1, 1000000000], not 0"),
        (
            [
                "train",
                "--codeword-bits",
                "12",
                "--bits-per-symbol",
                "2",
                "--iterations",
                "1",
                "--finetune-iterations",
                "0",
                "--quiet",
                "--ebno-db",
                "5",
            ],
            None,
        ),
        (["evaluate", "no/such/run"], "not found"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, args, message, capsys):
    from mfcomm import cli

    try:
        code = cli.main(["bitwise", *args, *(["--out", str(tmp_path / "o")] if args[0] == "train" else [])])
    except SystemExit as usage:  # argparse's own one-line usage error
        code = usage.code
    if message is None:
        assert code == 0, capsys.readouterr().err
        capsys.readouterr()
        code = cli.main(["bitwise", "evaluate", str(tmp_path / "o"), "--quiet"])
        message = "5G LDPC"
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_coded_sweep_runs_on_the_training_chain_and_own_noise_channels(tmp_path):
    from mfcomm.experiment.coded_sweep import coded_sweep

    chain_run = runs.train(
        _small(
            bits_per_symbol=2, codeword_bits=120, iterations=20, finetune_iterations=5, channel="awgn | adc(bits=5)"
        ),
        quiet=True,
    )
    curves = coded_sweep(chain_run, tmp_path, [8.0, 9.0], 10, 40, batch=20, quiet=True)
    assert [p.ebno_db for p in curves["learned"]] == [8.0, 9.0] and "qam" in curves
    assert (tmp_path / "coded.csv").read_text().count("\n") == 5 and (tmp_path / "coded.png").is_file()
    (tmp_path / "box.py").write_text(
        "import numpy as np\n"
        "def f(x):\n    return x + 0.1 * (np.random.randn(*x.shape) + 1j * "
        "np.random.randn(*x.shape)).astype(np.complex64)\n"
    )
    box_run = runs.train(
        _small(
            bits_per_symbol=2,
            codeword_bits=120,
            iterations=20,
            finetune_iterations=5,
            channel=f"{tmp_path / 'box.py'}:f",
        ),
        quiet=True,
    )
    curves = coded_sweep(box_run, tmp_path, [4.0, 5.0, 6.0], 10, 40, batch=20, quiet=True)
    assert [p.ebno_db for p in curves["learned"]] == [8.0]  # only where the demapper was told N0


@pytest.mark.slow  # a benchmark's smoke test, 25 s: make test-slow
def test_peer_benchmark_runs_end_to_end(tmp_path):
    """``benchmarks/tutorial.py --quick``: the recipe, mfcomm (model-free and model-based), curves and report."""
    import json
    from pathlib import Path

    script = Path(__file__).parents[2] / "benchmarks" / "tutorial.py"
    r = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["recipe"]["channel_uses"] == 8 * 250 * (3 * 11 + 3)
    assert {"QAM + APP demapper", "tutorial recipe", "mfcomm model-based"} <= set(results["curves"])
    assert {"bler.png", "constellation.png", "constellation.csv"} <= {p.name for p in tmp_path.iterdir()}

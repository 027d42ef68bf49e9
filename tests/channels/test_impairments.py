"""Impairments against their standard models, the chain syntax and its errors, and training through a chain."""

import contextlib
import io
import json
import math
import subprocess

import pytest
import torch
from scipy.stats import chi2

from mfcomm import cli
from mfcomm.channels.chain import Chain, build, has_noise, is_chain, parse
from mfcomm.channels.contract import BlackBox
from mfcomm.channels.impairments import ADC, CFO, IMPAIRMENTS, IQImbalance, PhaseNoise, RandomPhase, Rapp, Saleh
from mfcomm.channels.spec import make_channel
from mfcomm.config.files import configure
from mfcomm.errors import ChannelError, ConfigError


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_x(batch: int = 1000, n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.view_as_complex(torch.randn(batch, n, 2, generator=_gen(seed)))


@pytest.mark.parametrize("name", IMPAIRMENTS)
def test_every_impairment_keeps_shape_and_dtype(name):
    y = IMPAIRMENTS[name](generator=_gen())(_random_x(7, 3))
    assert y.shape == (7, 3) and y.dtype == torch.complex64 and torch.isfinite(torch.view_as_real(y)).all()


def test_only_the_quantiser_is_not_differentiable():
    assert [name for name, cls in IMPAIRMENTS.items() if not cls.differentiable] == ["adc"]
    x = _random_x(8, 2).requires_grad_(True)
    build("phase | rapp | saleh | phase_noise | cfo | iq | awgn", 0.1)(x).abs().sum().backward()
    assert torch.isfinite(torch.view_as_real(x.grad)).all() and x.grad.abs().sum() > 0


def test_adc_outputs_lie_on_the_grid_and_saturate_at_the_clip():
    adc = ADC(bits=3, clip=1.5)
    step = 2 * 1.5 / 8
    levels = torch.tensor([step * (k + 0.5) for k in range(-4, 4)])
    y = torch.view_as_real(adc(3 * _random_x()))
    assert torch.isin(y, levels).all() and set(y.unique().tolist()) == set(levels.tolist())
    big = torch.tensor([[10 - 10j, 1e-4 + 0.2j]], dtype=torch.complex64)
    assert torch.equal(adc(big), torch.tensor([[1.3125 - 1.3125j, 0.1875 + 0.1875j]], dtype=torch.complex64))
    assert (adc(_random_x()) - _random_x()).abs().max() > 0  # quantising changes the signal


def test_adc_with_agc_ignores_the_block_gain():
    adc, x = ADC(bits=4, clip=2.0, agc=True), _random_x()
    assert torch.equal(adc(x), adc(7.5 * x)) and torch.equal(adc(x), adc(0.01 * x))
    assert torch.equal(adc(torch.zeros(2, 3, dtype=torch.complex64)).abs(), torch.full((2, 3), 0.125 * 2**0.5))


def test_rapp_saturates_at_sat_and_is_transparent_for_small_amplitudes():
    rapp = Rapp(p=2, sat=1.2)
    r = torch.tensor([1e-3, 0.1, 1.2, 100.0])
    x = (r * torch.exp(1j * torch.tensor([0.3, -2.0, 1.0, 3.0]))).to(torch.complex64).unsqueeze(0)
    y = rapp(x)
    expected = r / (1 + (r / 1.2) ** 4) ** 0.25
    assert torch.allclose(y.abs(), expected.unsqueeze(0), rtol=1e-5)
    assert y.abs()[0, 3] == pytest.approx(1.2, rel=1e-4) and y.abs()[0, 0] == pytest.approx(1e-3, rel=1e-5)
    assert y.abs()[0, 2] == pytest.approx(1.2 / 2**0.25, rel=1e-5)
    assert torch.allclose(torch.angle(y), torch.angle(x), atol=1e-6)  # AM/AM only: the phase is kept


def test_saleh_am_am_and_am_pm_at_a_known_amplitude():
    saleh = Saleh()  # Saleh 1981's parameters
    x = torch.tensor([[0.5 * complex(math.cos(0.7), math.sin(0.7))]], dtype=torch.complex64)
    y = saleh(x)
    assert float(y.abs()) == pytest.approx(2.1587 * 0.5 / (1 + 1.1517 * 0.25), rel=1e-5)
    shift = 4.0033 * 0.25 / (1 + 9.1040 * 0.25)
    assert float(torch.angle(y)) == pytest.approx(0.7 + shift, abs=1e-5)
    peak = Saleh()(torch.tensor([[1 / 1.1517**0.5]], dtype=torch.complex64)).abs()
    assert float(peak) == pytest.approx(2.1587 / (2 * 1.1517**0.5), rel=1e-5)


def test_iq_imbalance_is_mu_x_plus_nu_conj_x():
    iq, x = IQImbalance(amplitude_db=1.0, phase_deg=10.0), _random_x()
    g, phi = 10 ** (1 / 20), math.radians(10)
    mu, nu = (1 + g * complex(math.cos(phi), -math.sin(phi))) / 2, (1 - g * complex(math.cos(phi), math.sin(phi))) / 2
    assert torch.allclose(iq(x), mu * x + nu * x.conj(), atol=1e-6)
    branches = torch.complex(x.real, g * (x.imag * math.cos(phi) - x.real * math.sin(phi)))
    assert torch.allclose(iq(x), branches, atol=1e-5)
    assert torch.allclose(IQImbalance(0.0, 0.0)(x), x)


def test_cfo_rotates_by_two_pi_offset_per_symbol_and_keeps_amplitudes():
    x = _random_x(500, 6)
    for cfo in (CFO(offset=0.02), CFO(offset=0.02, random_phase=True, generator=_gen())):
        y = cfo(x)
        assert torch.allclose(y.abs(), x.abs(), rtol=1e-5)
        step = torch.angle(y[:, 1:] * x[:, 1:].conj() * (y[:, :-1] * x[:, :-1].conj()).conj())
        assert torch.allclose(step, torch.full_like(step, 2 * math.pi * 0.02), atol=1e-4)
    assert torch.allclose(CFO(offset=0.02)(x)[:, 0], x[:, 0])  # theta = 0 without random_phase


def test_phase_noise_is_a_wiener_process_with_the_right_increment_variance():
    linewidth, x = 1e-3, _random_x(2000, 33)
    y = PhaseNoise(linewidth, generator=_gen(1))(x)
    assert torch.allclose(y.abs(), x.abs(), rtol=1e-4)
    assert torch.allclose(y[:, 0], x[:, 0])  # the first symbol of each block is the phase reference
    rotation = y * x.conj()
    increments = torch.angle(rotation[:, 1:] * rotation[:, :-1].conj()).double().flatten()
    dof = increments.numel()
    statistic = float(increments.square().sum()) / (2 * math.pi * linewidth)  # ~ chi2(dof) (zero mean known)
    assert chi2.ppf(0.0005, dof) < statistic < chi2.ppf(0.9995, dof)
    assert abs(float(increments.mean())) < 4 * math.sqrt(2 * math.pi * linewidth / dof)


def test_random_phase_stays_within_bounds_and_is_common_to_the_block():
    x = _random_x(5000, 2)
    rotation = torch.angle(RandomPhase(max_deg=15, generator=_gen())(x) * x.conj())
    degrees = torch.rad2deg(rotation)
    assert degrees.abs().max() <= 15 + 1e-3 and degrees.abs().max() > 14.5 and abs(float(degrees.mean())) < 0.5
    assert torch.allclose(rotation[:, 0], rotation[:, 1], atol=1e-4)
    assert torch.allclose(RandomPhase(max_deg=0)(x), x)


def test_chain_parses_applies_in_order_and_round_trips():
    spec = " rapp( p = 2 , sat=1.2 )|awgn | adc(bits=3, agc=TRUE) "
    assert parse(spec) == [("rapp", {"p": 2.0, "sat": 1.2}), ("awgn", {}), ("adc", {"bits": 3, "agc": True})]
    ch = build(spec, 0.1, _gen())
    assert isinstance(ch, Chain) and not ch.differentiable
    assert ch.name == "rapp(p=2,sat=1.2) | awgn | adc(bits=3,clip=1.5,agc=true,ste=false)"
    assert build(ch.name, 0.1).name == ch.name
    assert (
        build("saleh(aa=2.1587, ba=1e-3) | phase_noise(linewidth=2.5e-4)", None).name
        == "saleh(aa=2.1587,ba=0.001,ap=4.0033,bp=9.104) | phase_noise(linewidth=0.00025)"
    )
    x = _random_x(4, 2)
    noiseless = build("rapp(p=3) | iq | adc(bits=5)", None)
    assert torch.equal(noiseless(x), ADC(bits=5)(IQImbalance()(Rapp(p=3)(x)))) and noiseless.differentiable is False
    assert build("rapp | phase", None).differentiable


@pytest.mark.parametrize(
    "spec, stage",
    [
        ("rap | awgn", "rap"),
        ("adc(bits=0)", "adc"),
        ("adc(bits=2.5)", "adc"),
        ("adc(bit=3)", "adc"),
        ("adc(bits=x)", "adc"),
        ("adc(bits=)", "adc"),
        ("adc(agc=1)", "adc"),
        ("adc(bits=3,bits=4)", "adc"),
        ("rapp(p=-1)", "rapp"),
        ("rapp(sat=inf)", "rapp"),
        ("saleh(aa=-1)", "saleh"),
        ("cfo(offset=0.7)", "cfo"),
        ("iq(phase_deg=90)", "iq"),
        ("phase(max_deg=200)", "phase"),
        ("phase_noise(linewidth=-1)", "phase_noise"),
        ("awgn(n0=1)", "awgn"),
        ("adc(bits=3", "adc(bits=3"),
        ("awgn || adc", "''"),
    ],
)
def test_chain_errors_are_one_line_and_name_the_stage(spec, stage):
    with pytest.raises(ChannelError) as err:
        build(spec, 0.1)
    assert stage in str(err.value) and "\n" not in str(err.value)


def test_make_channel_tells_chains_from_builtins_and_black_boxes(tmp_path):
    assert isinstance(make_channel("adc", None), Chain) and isinstance(make_channel("awgn | adc", 0.1), Chain)
    assert make_channel("awgn", 0.1).name == "awgn" and not is_chain("awgn") and not is_chain("rbf")
    path = tmp_path / "radio (copy).py"
    path.write_text("def f(x):\n    return x\n")
    assert not is_chain(f"{path}:f") and isinstance(make_channel(f"{path}:f", None), BlackBox)
    assert has_noise("rbf") and has_noise("phase | rbf") and not has_noise("phase") and not has_noise(f"{path}:f")
    with pytest.raises(ChannelError, match="awgn: needs the noise level"):
        make_channel("rapp | awgn", None)


def test_config_accepts_chains_and_sets_the_snr_only_where_there_is_noise():
    cfg = configure(overrides={"channel": "rapp | awgn | adc(bits=3)"})
    assert cfg.snr_db == 10.0 and cfg.n0 == pytest.approx(0.1) and not cfg.is_user_channel and cfg.use_equalizer
    quiet = configure(overrides={"channel": "phase | adc"})
    assert quiet.snr_db is None and quiet.n0 is None and quiet.resolved_snr_db is None
    assert configure(overrides={"channel": "rapp | saleh | rbf", "method": "model-based"}).snr_db == 10.0
    assert configure(overrides={"channel": "x.py:f"}).is_user_channel
    with pytest.raises(ConfigError, match="snr_db and ebno_db do not apply"):
        configure(overrides={"channel": "phase | adc", "snr_db": 5.0})
    with pytest.raises(ChannelError, match="adc: bits"):
        configure(overrides={"channel": "awgn | adc(bits=17)"})
    with pytest.raises(ConfigError, match="real signalling"):
        configure(overrides={"channel": "phase | rbf", "signalling": "real"})


def test_model_based_training_is_refused_on_a_non_differentiable_chain():
    with pytest.raises(ConfigError) as err:
        configure(overrides={"channel": "rapp(p=2,sat=1.2) | awgn | adc(bits=3)", "method": "model-based"})
    message = str(err.value)
    assert "stage adc is not differentiable" in message and "--method model-free" in message and "\n" not in message


def _mfcomm(*args):
    """The CLI in this process (a subprocess would spend seconds importing torch each time)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.mark.integration
def test_train_and_evaluate_through_a_chain_from_the_command_line(tmp_path):
    out, spec = tmp_path / "run", "rapp(p=2,sat=1.2) | awgn | adc(bits=3)"
    result = _mfcomm("train", "--channel", spec, "--iterations", "50", "--out", out, "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channel"] == spec and summary["snr_db"] == 10.0 and summary["ser"] < 0.9
    result = _mfcomm("evaluate", out, "--snr-db", "8:10:2", "--target-errors", "50", "--quiet")
    assert result.returncode == 0, result.stderr
    header, *rows = (out / "ser.csv").read_text().splitlines()
    assert "baseline_ser" in header and "baseline_closed_form" not in header and len(rows) == 2
    result = _mfcomm(
        "evaluate", out, "--channel", "rapp(p=2,sat=1.2) | adc(bits=3)", "--target-errors", "50", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert len((out / "ser.csv").read_text().splitlines()) == 2  # no noise stage: one row, no SNR sweep
    refused = _mfcomm("train", "--method", "model-based", "--channel", spec, "--out", tmp_path / "x", "--quiet")
    errors = [line for line in refused.stderr.splitlines() if "error" in line]
    assert refused.returncode != 0 and len(errors) == 1 and "adc" in errors[0] and not (tmp_path / "x").exists()


def test_tdl_field_model_keeps_the_contract_and_at_most_unit_energy():
    from mfcomm.channels.chain import build

    torch.manual_seed(0)
    ch = build("tdl(model=B,delay_spread=50e-9) | awgn", n0=0.0)
    assert ch.name.startswith("tdl(model=B,delay_spread=5e-08")
    x = torch.exp(2j * torch.pi * torch.rand(20000, 8)).to(torch.complex64)
    y = ch(x)
    assert y.shape == x.shape and y.dtype == torch.complex64
    energy = float(y.abs().square().mean())
    assert 0.5 < energy <= 1.05  # unit-energy taps, less what spills outside the block
    h = y[:, 0] / x[:, 0]  # a different channel for every block
    assert float(h.abs().std()) > 0.1
    with pytest.raises(ChannelError, match="model must be one of"):
        build("tdl(model=Z)", n0=None)


def test_straight_through_adc_quantises_forward_and_passes_gradients_back():
    x = (_random_x(64, 2) * 2).requires_grad_(True)
    plain, ste = ADC(bits=3, clip=1.5), ADC(bits=3, clip=1.5, ste=True)
    assert ste.differentiable and not plain.differentiable
    y = ste(x)
    assert torch.equal(y, plain(x.detach()))
    y.real.sum().backward()
    inside = torch.view_as_real(x.detach()).abs()[..., 0] < 1.5 - ste.step / 2
    assert torch.equal(x.grad.real != 0, inside)  # identity inside the range, zero where it clips


def test_fiber_field_model_noise_follows_the_launch_power():
    from mfcomm.channels.chain import build

    torch.manual_seed(0)
    x = torch.exp(2j * torch.pi * torch.rand(4096, 4)).to(torch.complex64)
    noise = {}
    for power in (-10.0, 0.0):
        ch = build(f"fiber(power_dbm={power:g})", n0=None)
        y1, y2 = ch(x), ch(x)
        assert y1.shape == x.shape and y1.dtype == torch.complex64
        assert float(y1.abs().square().mean()) == pytest.approx(1.0, abs=0.05)  # the EDFA restores the span loss
        noise[power] = float((y1 - y2).abs().square().mean()) / 2
    # ASE noise is fixed in watts: 10 dB more launch power, 10x less noise relative to the signal
    assert noise[-10.0] / noise[0.0] == pytest.approx(10.0, rel=0.1)

"""The quality features against independent references: the classical start, PSK closed forms, starting
from a run, the stop rule, the cosine schedule, candidate selection, recipes and the geometric sigma2.

Statistical checks compare Monte Carlo estimates (fixed seeds) with references through a two-sided 99.9%
Clopper-Pearson interval, the convention of tests/system/test_baselines.py: the file makes five such comparisons,
and at 95% one of them would fail by chance for about one seed in four (QPSK x2 at seed 0 does: 701
errors in 200,000 where 625 are expected, +3.0 sigma; 10 million messages over ten other seeds give +1.3
sigma). References are computed here from textbook formulas, not from mfcomm.
"""

import csv
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
from mfcomm.config.fields import SIGMA2_PER_DMIN2, SIGMA2_PER_DMIN2_LINEAR, geometric_sigma2, reference_dmin2
from mfcomm.config.files import configure, to_toml
from mfcomm.config.recipes import PAPER_RECIPE
from mfcomm.conventions import snr_db_to_n0
from mfcomm.errors import ConfigError
from mfcomm.evaluation.ser import clopper_pearson, monte_carlo
from mfcomm.experiment import candidates, runs, symbol_task
from mfcomm.learning import lr_schedule, model_based, model_free
from mfcomm.learning.stop_rule import Plateau
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


# --- 4. the stop rule -------------------------------------------------------------------------------------


def _first_stop(rule: Plateau, losses) -> int | None:
    for it, loss in enumerate(losses, 1):
        if rule.update(it, torch.tensor(float(loss))):
            return it
    return None


def test_plateau_never_stops_a_loss_falling_2pct_per_window_over_10000_iterations():
    losses = [0.98 ** (it / 100) for it in range(1, 10_001)]  # window means fall 2% per 100 iterations
    assert _first_stop(Plateau(patience=300, window=100, tol=0.01), losses) is None


@pytest.mark.parametrize("patience, waited", [(300, 300), (250, 300), (100, 100), (1, 100)])
@pytest.mark.parametrize("tail", ["flat", "drifting 0.5% per window"])
def test_plateau_stops_exactly_patience_rounded_up_to_the_window_after_the_last_1pct_gain(patience, waited, tail):
    # windows 1..12 fall 5% each (every one a >1% gain); then flat, or sliding by less than the 1% tolerance
    last_gain_window = 12
    per_window = [0.95**k for k in range(1, last_gain_window + 1)]
    step = 1.0 if tail == "flat" else 0.995
    per_window += [per_window[-1] * step**k for k in range(1, 60)]
    losses = [v for v in per_window for _ in range(100)]
    expected = 100 * last_gain_window + waited
    assert _first_stop(Plateau(patience=patience, window=100, tol=0.01), losses) == expected


def test_plateau_stops_a_flat_loss_with_half_percent_noise_within_patience_plus_two_windows():
    rng = np.random.default_rng(0)
    losses = 1.0 + 0.005 * rng.standard_normal(10_000)
    stop = _first_stop(Plateau(patience=300, window=100, tol=0.01), losses)
    # the first window sets the best; no later window mean (std 0.05%) can beat it by 1%
    assert stop is not None and 100 + 300 <= stop <= 100 + 300 + 200, stop


def test_plateau_with_patience_0_never_stops():
    rule = Plateau(patience=0)
    assert _first_stop(rule, [1.0] * 10_000) is None
    assert _first_stop(Plateau(patience=0), [1.0 / it for it in range(1, 10_001)]) is None


def _replay_plateau(window_means: list[float], patience: int, window: int = 100, tol: float = 0.01) -> int | None:
    """Our own reading of the documented rule, on window means: stop at the first window end at least
    ``patience`` iterations after the last window whose mean was below (1 - tol) times every earlier one."""
    last_gain, best = 0, math.inf
    for k, mean in enumerate(window_means, 1):
        if mean < (1 - tol) * best:
            last_gain = k * window
        best = min(best, mean)
        if k * window - last_gain >= patience:
            return k * window
    return None


def _metrics(run_dir):
    with open(run_dir / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _watched_window_means(cfg, rows):
    """The held-out loss the rule watches, as 100-iteration window means of the logged rows (10 iterations
    each): the first receiver step's loss, or with no receiver steps the first transmitter step's fed-back loss."""
    assert cfg.log_every == 10 and (cfg.rx_steps == 1 or cfg.tx_steps == 1)
    losses = [float(r["rx_loss" if cfg.rx_steps else "tx_loss"]) for r in rows]
    return [sum(losses[i : i + 10]) / 10 for i in range(0, len(losses) - len(losses) % 10, 10)]


TRIVIAL = {"messages": 4, "channel_uses": 1, "snr_db": 20.0, "patience": 300, **TINY}
"""4 messages in 1 use at 20 dB: solved within a few hundred iterations by the default recipe."""


def test_stop_early_ends_training_at_the_plateau_with_summary_metrics_and_channel_uses_agreeing(tmp_path):
    cfg = configure(overrides={**TRIVIAL, "iterations": 20_000, "stop_early": True})
    run = runs.train(cfg, quiet=True)
    runs.save(run, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["converged"] is True
    stop = summary["converged_iteration"]
    assert 400 <= stop < 20_000 and stop % 100 == 0  # a window end, after the first window + patience
    assert summary["iterations_run"] == stop
    rows = _metrics(tmp_path / "run")
    assert cfg.finetune_iterations == 0
    assert int(rows[-1]["iteration"]) == stop  # no fine-tuning: the last row is the main loop's last
    per_iteration = (cfg.rx_steps * cfg.batch_size + cfg.tx_steps * cfg.tx_batch * cfg.perturbations) * 1
    assert int(rows[-1]["channel_uses"]) == summary["channel_uses_spent"] == stop * per_iteration
    assert _replay_plateau(_watched_window_means(cfg, rows), 300) == stop  # the documented rule, replayed


def test_without_stop_early_the_plateau_is_reported_and_training_runs_to_the_cap(tmp_path):
    cfg = configure(overrides={**TRIVIAL, "iterations": 1500})
    assert cfg.stop_early is False  # the default
    run = runs.train(cfg, quiet=True)
    runs.save(run, tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    rows = _metrics(tmp_path / "run")
    assert summary["iterations_run"] == 1500 and int(rows[-1]["iteration"]) == 1500
    assert summary["converged"] is True
    assert summary["converged_iteration"] == _replay_plateau(_watched_window_means(cfg, rows), 300) < 1500


def test_training_with_patience_0_never_reports_convergence():
    cfg = configure(overrides={**TRIVIAL, "iterations": 50, "patience": 0, "stop_early": True})
    summary = runs.summary(runs.train(cfg, quiet=True))
    assert summary["converged"] is False and summary["converged_iteration"] is None
    assert summary["iterations_run"] == 50


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="with receiver steps the watched loss is the clean receiver loss, which "
    "decays towards 0 once the SER is 0 and keeps improving by >1% per window until float32 "
    "underflow: the paper recipe stopped at 3300 iterations here, never in 20000 with rx_hidden [32]",
)
def test_training_with_receiver_steps_reaches_a_plateau_within_1500_iterations_on_a_trivial_20db_task():
    cfg = configure(overrides={**TRIVIAL, "recipe": "paper", "iterations": 1500, "stop_early": True})
    assert cfg.rx_steps == 1
    run = runs.train(cfg, quiet=True)
    assert run.ser.errors == 0  # the task is solved long before the cap
    assert runs.summary(run)["converged"] is True


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


# --- 6. candidates ----------------------------------------------------------------------------------------

CANDIDATES = {
    "messages": 16,
    "channel_uses": 2,
    "snr_db": 10.0,
    "iterations": 20,
    "candidates": 3,
    "candidate_iterations": 30,
    "selection_messages": 4096,
    "batch_size": 256,
}


class Recording:
    """A channel that records each call's batch and whether it was an inference-mode (scoring) call."""

    def __init__(self, inner, calls):
        self.inner, self.calls = inner, calls
        self.name, self.differentiable = inner.name, inner.differentiable

    def __call__(self, x):
        self.calls.append((x.shape[0], torch.is_inference_mode_enabled()))
        return self.inner(x)


def _segments(calls):
    """Consecutive runs of training calls and scoring calls: [(is_scoring, [batch sizes])]."""
    out = []
    for batch, scoring in calls:
        if out and out[-1][0] == scoring:
            out[-1][1].append(batch)
        else:
            out.append((scoring, [batch]))
    return out


def test_candidates_keep_the_minimum_selection_ser_spend_the_counted_uses_and_score_after_training(monkeypatch):
    calls, scored = [], []
    real_make_channel = symbol_task.make_channel
    monkeypatch.setattr(symbol_task, "make_channel", lambda *a, **k: Recording(real_make_channel(*a, **k), calls))
    real_score = candidates.learned_ser

    def score(tx, rx, *args):
        est = real_score(tx, rx, *args)
        scored.append((tx, rx, est))
        return est

    monkeypatch.setattr(candidates, "learned_ser", score)
    cfg = configure(overrides={**CANDIDATES, **TINY})
    run = runs.train(cfg, quiet=True, evaluate=False)
    candidate_run_calls = list(calls)  # this run's channel calls only (the single run below adds more)

    rows = run.candidates
    assert len(rows) == 3 and [r["candidate"] for r in rows] == [0, 1, 2]
    assert [r["init"] for r in rows] == [cfg.init, "random", "random"]
    kept = [i for i, r in enumerate(rows) if r.get("kept")]
    assert len(kept) == 1
    assert rows[kept[0]]["selection_ser"] == min(r["selection_ser"] for r in rows)
    assert len({r["selection_ser"] for r in rows}) > 1  # the selection had something to choose between
    # the reported scores are those of the systems scored; the kept one is the system trained on and returned
    assert [r["selection_ser"] for r in rows] == [est.ser for _, _, est in scored]
    assert [r["selection_errors"] for r in rows] == [est.errors for _, _, est in scored]
    assert all(est.messages == cfg.selection_messages for _, _, est in scored)
    assert run.tx is scored[kept[0]][0] and run.rx is scored[kept[0]][1]
    assert len({id(tx) for tx, _, _ in scored}) == 3  # three distinct systems

    # channel uses: the main run's, plus every candidate's training and its scoring messages
    n = cfg.channel_uses
    per_iteration = (cfg.rx_steps * cfg.batch_size + cfg.tx_steps * cfg.tx_batch * cfg.perturbations) * n
    expected = cfg.iterations * per_iteration + 3 * 30 * per_iteration + 3 * cfg.selection_messages * n
    assert run.channel_uses_spent == expected
    single = runs.train(configure(overrides={**CANDIDATES, **TINY, "candidates": 1}), quiet=True, evaluate=False)
    assert single.channel_uses_spent == cfg.iterations * per_iteration
    assert run.channel_uses_spent == single.channel_uses_spent + 3 * 30 * per_iteration + 3 * 4096 * n

    # order of what went through the channel: each candidate trains (30 x (rx + tx) calls), then is scored on
    # selection_messages fresh messages; then the main training runs (20 x 2 calls); no scoring in between
    iteration = [cfg.batch_size] * cfg.rx_steps + [cfg.tx_batch * cfg.perturbations] * cfg.tx_steps
    segments = _segments(candidate_run_calls)
    assert [scoring for scoring, _ in segments] == [False, True, False, True, False, True, False]
    for scoring, batches in segments[:6]:
        if scoring:
            assert sum(batches) == cfg.selection_messages
        else:
            assert batches == iteration * 30
    assert segments[6][1] == iteration * cfg.iterations


# --- 7. recipes -------------------------------------------------------------------------------------------


def test_recipe_paper_resolves_to_the_papers_values_and_explicit_options_win(tmp_path):
    paper = configure(overrides={"recipe": "paper"})
    for key, value in PAPER_RECIPE.items():
        assert getattr(paper, key) == value, key
    # Algorithm 1 as published: random start, one rx and one tx step, fixed sigma2 0.1, constant rates, no stop
    assert (
        paper.init,
        paper.rx_steps,
        paper.tx_steps,
        paper.sigma2,
        paper.lr_schedule,
        paper.stop_early,
        paper.candidates,
        paper.loss_baseline,
    ) == ("random", 1, 1, 0.1, "constant", False, 1, "none")
    assert paper.exploration_sigma2 == 0.1
    assert configure(overrides={"recipe": "paper", "sigma2": 0.05}).sigma2 == 0.05
    assert configure(overrides={"recipe": "paper", "lr_schedule": "cosine"}).lr_schedule == "cosine"
    path = tmp_path / "c.toml"
    path.write_text('recipe = "paper"\nsigma2 = 0.05\n')
    assert configure(path).sigma2 == 0.05 and configure(path).stop_early is False
    assert configure(path, {"sigma2": 0.02}).sigma2 == 0.02
    # round trip: a paper run's config.toml gives the same config back
    (tmp_path / "r.toml").write_text(to_toml(paper))
    assert configure(tmp_path / "r.toml") == paper


def test_unknown_recipe_is_a_one_line_error():
    with pytest.raises(ConfigError, match="recipe") as err:
        configure(overrides={"recipe": "bogus"})
    assert "\n" not in str(err.value)


def test_cli_recipe_paper_trains_with_the_papers_values(tmp_path):
    out = tmp_path / "paper"
    assert (
        cli.main(["train", "--recipe", "paper", "--iterations", "5", "--out", str(out), "--quiet", "--no-baseline"])
        == 0
    )
    saved = configure(out / "config.toml")
    assert saved.recipe == "paper" and saved.sigma2 == 0.1
    assert json.loads((out / "summary.json").read_text())["sigma2"] == 0.1


def test_cli_candidate_options_reach_the_run(tmp_path):
    out = tmp_path / "cand"
    assert (
        cli.main(
            [
                "train",
                "--candidates",
                "2",
                "--candidate-iterations",
                "5",
                "--iterations",
                "5",
                "--out",
                str(out),
                "--quiet",
                "--no-baseline",
            ]
        )
        == 0
    )
    saved = configure(out / "config.toml")
    assert (saved.candidates, saved.candidate_iterations) == (2, 5)
    assert len(json.loads((out / "summary.json").read_text())["candidates"]) == 2


# --- 8. geometric sigma2 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("messages, uses", [(16, 2), (256, 4), (16, 1), (64, 1), (1024, 5)])
def test_reference_dmin2_is_the_brute_force_minimum_distance_of_the_square_qam_baseline(messages, uses):
    baseline = classical_baseline(messages, uses)
    assert baseline.bits_per_symbol is not None and baseline.bits_per_symbol % 2 == 0  # square QAM per use
    assert reference_dmin2(messages, uses) == pytest.approx(min_distance2(baseline.codebook), rel=1e-5)


def test_geometric_sigma2_is_the_constant_times_the_true_dmin2_and_the_default_an_explicit_sigma2_overrides():
    # SIGMA2_PER_DMIN2 is a tuned constant (0.05 at the brief's time, 0.025 since): tie the test to its
    # definition, sigma2 = SIGMA2_PER_DMIN2 x the brute-force d_min^2 of the same-rate square-QAM code
    for messages, uses in ((16, 2), (16, 1), (64, 1)):
        dmin2 = min_distance2(classical_baseline(messages, uses).codebook)
        assert geometric_sigma2(messages, uses) == pytest.approx(SIGMA2_PER_DMIN2 * dmin2, rel=1e-5)
    assert geometric_sigma2(16, 2) == pytest.approx(2 * SIGMA2_PER_DMIN2, rel=1e-12)  # QPSK: d_min^2 = 2
    cfg = configure(overrides={"messages": 16, "channel_uses": 2, "channel": "awgn | adc(bits=3)"})
    assert cfg.sigma2 is None and cfg.exploration_sigma2 == geometric_sigma2(16, 2)
    # awgn or rbf alone: the wider constant, as much wider for every (M, n)
    ratio = SIGMA2_PER_DMIN2_LINEAR / SIGMA2_PER_DMIN2
    for channel in ("awgn", "rbf", "awgn()"):
        linear = configure(overrides={"messages": 16, "channel_uses": 2, "channel": channel}).exploration_sigma2
        assert linear == pytest.approx(ratio * geometric_sigma2(16, 2), rel=1e-12) and ratio > 1
    for channel in ("phase_noise(linewidth=5e-3) | awgn", "rbf | adc(bits=3)"):
        assert configure(overrides={"channel": channel}).exploration_sigma2 == geometric_sigma2(16, 2)
    assert configure(overrides={"sigma2": 0.3}).exploration_sigma2 == 0.3
    assert geometric_sigma2(2, 64) == 0.5 and geometric_sigma2(65536, 1) == pytest.approx(
        max(1e-4, SIGMA2_PER_DMIN2 * 6 / 65535)
    )  # kept within [1e-4, 0.5]


# --- never below the textbook system -----------------------------------------------------------------------


def test_keep_best_returns_the_classical_system_when_training_ends_worse_and_counts_its_receiver():
    # 20 iterations from a random start end far above QPSK x2 (about 0.3); the classical codebook with a
    # receiver trained for 20 steps is far better, so the run keeps it, re-measured on fresh messages
    over = {"iterations": 20, "init": "random", "seed": 3, "eval_max_messages": 100_000}
    run = runs.train(configure(overrides=over), quiet=True)
    s = runs.summary(run)
    assert s["kept"] == "classical" and s["trained_ser"] > s["ser_ci"][1]
    assert torch.allclose(run.tx.codebook().detach(), classical_baseline(16, 2).codebook, atol=1e-6)
    per_iteration = 1024 * 2  # defaults: one transmitter step of 1024 messages, n = 2, no receiver step
    assert s["channel_uses_spent"] == 20 * per_iteration + 20 * per_iteration  # training + the new receiver

    kept = runs.summary(runs.train(configure(overrides={**over, "keep_best": False}), quiet=True))
    assert kept["kept"] == "trained" and kept["ser"] == s["trained_ser"]  # same training, same messages
    assert kept["channel_uses_spent"] == 20 * per_iteration

"""The classical baseline beside every training result (mfcomm.evaluation.reference): exact where the channel is a known
model, a trained receiver where it is not, off on request, and invisible to training."""

import json

import torch

from mfcomm.channels.contract import RayleighBlockFading
from mfcomm.cli import main
from mfcomm.config.files import configure
from mfcomm.evaluation.reference import (
    CLOSED_FORM,
    COHERENT_NOTE,
    LEARNED_RECEIVER,
    ML_DETECTION,
    NONCOHERENT_NOTE,
    choose_method,
    measure_baseline,
)
from mfcomm.evaluation.ser import clopper_pearson, monte_carlo
from mfcomm.experiment.runs import train
from mfcomm.system.baselines import baseline_errors, classical_baseline, closed_form_ser

QPSK_X2 = {"messages": 16, "channel_uses": 2, "snr_db": 10.0}
QPSK_X2_10DB_SER = 3.127e-3
"""1 - (1 - Q(sqrt(1/N0)))^4 at N0 = 0.1: two QPSK symbols, each two independent sign decisions."""


def test_closed_form_is_qpsk_x2_at_10db_and_ml_monte_carlo_agrees_within_its_ci():
    exact = measure_baseline(configure(overrides={**QPSK_X2, "channel": "awgn"}), quiet=True)
    assert (exact.name, exact.method, exact.channel_uses) == ("QPSK x2", CLOSED_FORM, 0)
    assert f"{exact.ser:.3g}" == "0.00313" and exact.ci_low == exact.ser == exact.ci_high
    # "awgn()" is a one-stage chain, the same channel: automatically closed form, or forced Monte Carlo ML
    cfg = configure(overrides={**QPSK_X2, "channel": "awgn()", "seed": 3})
    assert choose_method(cfg, classical_baseline(16, 2)) == CLOSED_FORM
    mc = measure_baseline(cfg, quiet=True, method=ML_DETECTION)
    assert mc.method == ML_DETECTION and mc.channel_uses == 0
    assert mc.errors >= cfg.eval_target_errors and mc.messages >= cfg.eval_messages
    assert mc.ci_low <= exact.ser <= mc.ci_high, (mc, exact.ser)
    assert mc.ci_high / mc.ci_low < 1.2  # 1000 errors: a CI of about +-6%, a test that can fail
    # with one use there is no room for a pilot: 16-QAM detected coherently, a bound
    rbf = measure_baseline(configure(overrides={**QPSK_X2, "channel_uses": 1, "channel": "rbf"}), quiet=True)
    assert (rbf.name, rbf.method, rbf.note) == ("16-QAM", CLOSED_FORM, COHERENT_NOTE) and rbf.coherent_ser == rbf.ser


def test_rbf_baseline_is_the_pilot_code_detected_without_h_beside_the_coherent_bound():
    cfg = configure(overrides={"messages": 16, "channel_uses": 4, "snr_db": 20.0, "channel": "rbf", "seed": 1})
    b = measure_baseline(cfg, quiet=True)
    assert (b.name, b.method, b.channel_uses) == ("pilot + QPSK x2", ML_DETECTION, 0)
    coherent = closed_form_ser(classical_baseline(16, 4), "rbf", cfg.n0)
    assert b.coherent_ser == coherent and b.note.startswith(NONCOHERENT_NOTE) and "BPSK x4" in b.note
    assert b.ci_low > coherent  # not told h, it cannot reach the coherent bound
    # an independent estimate: the same code through a fresh channel, 0.999 CI, overlaps the run's 95% one
    n0 = cfg.n0
    ref = monte_carlo(
        baseline_errors(
            classical_baseline(16, 4, fading=True, n0=n0), RayleighBlockFading(n0, torch.Generator().manual_seed(9))
        ),
        target_errors=10**9,
        min_messages=200_000,
        max_messages=200_000,
    )
    ci = clopper_pearson(ref.errors, ref.messages, 0.999)
    assert ci.ci_low <= b.ci_high and b.ci_low <= ci.ci_high


def test_learned_receiver_baseline_through_a_1bit_adc_matches_qpsk_x2_closed_form():
    # a 1-bit ADC keeps exactly the signs, which are all QPSK's ML decisions use: the same SER, if the
    # receiver trained on the fixed codebook has learned the 16 sign patterns (300 steps of 512 messages;
    # pooled over seeds 0-5 at 3000 errors each its SER is 3.11e-3). An undertrained one errs far more often.
    cfg = configure(overrides={**QPSK_X2, "channel": "awgn | adc(bits=1)", "iterations": 300, "seed": 0})
    b = measure_baseline(cfg, quiet=True)
    assert b.method == LEARNED_RECEIVER and b.name == "QPSK x2"
    assert b.channel_uses == 300 * cfg.batch_size * 2  # training symbols only; evaluation is not a cost
    assert b.errors >= cfg.eval_target_errors
    assert b.ci_low <= QPSK_X2_10DB_SER <= b.ci_high, b


def test_cli_reports_the_baseline_and_no_baseline_turns_it_off(tmp_path, capsys):
    common = ["train", "--iterations", "20", "--seed", "2", "--init", "random", "--no-keep-best", "--quiet"]
    assert main([*common, "--out", str(tmp_path / "with")]) == 0
    out, err = capsys.readouterr()
    s = json.loads((tmp_path / "with" / "summary.json").read_text())
    assert s["baseline"] == "QPSK x2" and s["baseline_method"] == CLOSED_FORM and s["baseline_channel_uses"] == 0
    assert f"{s['baseline_ser']:.3g}" == "0.00313" and s["baseline_ci"] == [s["baseline_ser"]] * 2
    assert "baseline QPSK x2 (closed form): SER 3.13e-03" in out and "learned/baseline = " in out
    # 20 iterations from a random start do not beat QPSK: the CIs are apart, so the CLI warns
    assert s["ser_ci"][0] > s["baseline_ser"] and s["kept"] == "trained"
    assert err.startswith("warning: the learned system is worse than QPSK x2") and "--candidates" in err

    assert main([*common, "--no-baseline", "--out", str(tmp_path / "without")]) == 0
    out, err = capsys.readouterr()
    s = json.loads((tmp_path / "without" / "summary.json").read_text())
    assert s["baseline"] is None and s["baseline_ser"] is None and s["baseline_seconds"] is None
    assert not any(line.startswith("baseline") for line in out.splitlines()) and err == ""
    assert "compare_baseline = false" in (tmp_path / "without" / "config.toml").read_text()
    assert measure_baseline(configure(overrides={"messages": 8, "channel_uses": 2})) is None  # no same-rate code


def test_the_baseline_changes_neither_the_trained_system_nor_the_random_streams():
    cfg = {**QPSK_X2, "channel": "awgn | adc(bits=1)", "iterations": 30, "eval_target_errors": 100}
    runs, states = [], []
    for compare in (True, False):
        runs.append(train(configure(overrides={**cfg, "compare_baseline": compare}), quiet=True))
        states.append(torch.random.get_rng_state())
    with_baseline, without = runs
    assert with_baseline.baseline is not None and with_baseline.baseline.method == LEARNED_RECEIVER
    assert without.baseline is None
    for a, b in ((with_baseline.tx, without.tx), (with_baseline.rx, without.rx)):
        weights_a, weights_b = a.state_dict(), b.state_dict()
        assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    assert with_baseline.ser == without.ser and torch.equal(states[0], states[1])
    again = measure_baseline(with_baseline.cfg, quiet=True)  # its own seeded streams: reproducible
    assert (again.ser, again.messages, again.channel_uses) == (
        with_baseline.baseline.ser,
        with_baseline.baseline.messages,
        with_baseline.baseline.channel_uses,
    )

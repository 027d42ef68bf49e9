"""Candidate systems and the classical fall-back (mfcomm.experiment.candidates): the best candidate on held-out
messages goes on, every symbol sent counts, and a run never ends worse than the textbook system."""

import torch

from mfcomm.config.files import configure
from mfcomm.experiment import candidates, runs, symbol_task
from mfcomm.system.baselines import classical_baseline

TINY = {"compare_baseline": False, "eval_max_messages": 100_000}
"""Options that keep a run's evaluation at the 100,000-message minimum and skip the baseline."""


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

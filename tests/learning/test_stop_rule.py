"""The stop rule (mfcomm.learning.stop_rule): when the held-out loss has reached a plateau, in replays and in
real trainings."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from mfcomm.config.files import configure
from mfcomm.experiment import runs
from mfcomm.learning.stop_rule import Plateau

TINY = {"compare_baseline": False, "eval_max_messages": 100_000}
"""Options that keep a run's evaluation at the 100,000-message minimum and skip the baseline."""


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


@pytest.mark.integration
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

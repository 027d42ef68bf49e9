"""A run records the CPU threads torch ran on (``threads``; 0: torch's own choice, as before), runs on them and
gives the process its own count back, so that a configuration reproduces its run bit for bit on any machine
(issue #23: torch's reductions depend on the thread count)."""

from __future__ import annotations

import json

import pytest
import torch

from mfcomm import cli
from mfcomm.config.files import configure
from mfcomm.experiment import runs

TINY = {"iterations": 20, "messages": 16, "channel_uses": 2, "batch_size": 4096, "compare_baseline": False}


@pytest.fixture
def two_threads():
    """The process on two threads (whatever the machine), given back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_run_trains_on_its_threads_and_gives_the_process_its_own_back(two_threads):
    seen = []
    run = runs.train(
        configure(overrides={**TINY, "threads": 1}), quiet=True, on_log=lambda *_: seen.append(torch.get_num_threads())
    )
    assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    assert runs.summary(run)["threads"] == 1


def test_threads_0_leaves_torch_as_it_is_and_records_what_that_was(two_threads):
    cfg = configure(overrides=TINY)
    assert cfg.threads == 0
    run = runs.train(cfg, quiet=True, evaluate=False)
    assert run.threads == 2 and torch.get_num_threads() == 2


def test_the_same_threads_give_the_same_weights_whatever_the_process_runs_on(two_threads, tmp_path):
    cfg = configure(overrides={**TINY, "threads": 1})
    runs.save(runs.train(cfg, quiet=True), tmp_path / "a")
    torch.set_num_threads(1)
    runs.save(runs.train(cfg, quiet=True), tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


def test_train_takes_threads_writes_it_to_config_toml_and_summary_json(tmp_path):
    args = ["train", "--iterations", "5", "--messages", "4", "--channel-uses", "1", "--no-baseline", "--quiet"]
    assert cli.main([*args, "--threads", "1", "--out", str(tmp_path / "run")]) == 0
    assert "threads = 1\n" in (tmp_path / "run" / "config.toml").read_text()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["threads"] == 1
    assert cli.main([*args, "--threads", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_evaluate_measures_on_the_threads_the_run_trained_on(two_threads, tmp_path, monkeypatch):
    """A run trained on torch's own choice (``threads = 0``) with one thread records 1 in ``summary.json``;
    ``mfcomm evaluate`` and ``mfcomm.evaluate`` then measure it on 1 thread in a process on 2, and give the
    process its 2 back (a run's SER is re-measured with the sums its training used)."""
    import mfcomm
    from mfcomm.experiment import snr_sweep

    torch.set_num_threads(1)
    cfg = configure(overrides=TINY)
    runs.save(runs.train(cfg, quiet=True), tmp_path / "run")
    torch.set_num_threads(2)
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["threads"] == 1
    loaded = runs.load(tmp_path / "run")
    assert loaded.threads == 1
    seen, real = [], snr_sweep.ser_sweep

    def sweep(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(snr_sweep, "ser_sweep", sweep)
    monkeypatch.setattr("mfcomm.api.ser_sweep", sweep)
    mfcomm.evaluate(loaded, snr_db=[10.0], target_errors=10, max_messages=20_000)
    assert cli.main(["evaluate", str(tmp_path / "run"), "--snr-db", "10", "--target-errors", "10"]) == 0
    assert seen == [1, 1] and torch.get_num_threads() == 2

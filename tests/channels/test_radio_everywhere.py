"""Everywhere a channel goes, GNU Radio's goes: behind ``mfcomm node channel`` (the three-process ring of
``mfcomm node all``) and for the bits task (``mfcomm train --task bits``, alias ``mfcomm bitwise train``), at 4
samples per symbol through the real flowgraph; each run writes its transmitted spectrum. And (slow) the smoke
run of ``make bench-radio``. Skipped when the system Python has no GNU Radio (run ``make gnuradio``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mfcomm.channels.flowgraph_process import gnuradio_python, has_gnuradio

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DEADLINE = 300  # seconds: only a guard against a hang
RADIO = "gnuradio(snr_db=15, sps=4)"


pytestmark = [
    pytest.mark.skipif(not has_gnuradio(), reason=f"{gnuradio_python()} cannot import gnuradio"),
    pytest.mark.integration,  # training through GNU Radio, in one process and in three
]


def _mfcomm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mfcomm.cli", *args],
        env=ENV,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


@pytest.mark.slow  # three processes and GNU Radio are each tested in the default run; together: make test-slow
def test_three_processes_train_through_gnuradio(tmp_path):
    """The channel node runs the flowgraph; 10 iterations, no baseline (about 30 s, most of it the evaluation)."""
    (tmp_path / "short.toml").write_text("compare_baseline = false\n")
    out = tmp_path / "run"
    done = _mfcomm(
        "node", "all", "--config", str(tmp_path / "short.toml"), "--channel", RADIO, "--iterations", "10",
        "--checkpoint-every", "10", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {"spectrum.png", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channel"] == RADIO and summary["iterations"] == 10
    assert summary["channel_uses_spent"] == 10 * 1024 * 2 and summary["ser"] < 0.5


def test_the_bits_task_trains_through_gnuradio(tmp_path):
    """``mfcomm train --task bits`` (``mfcomm bitwise train``): 3 iterations and 2 of fine-tuning, batches of 16
    codewords of 60 QPSK-sized symbols, the BMD rate at one Eb/N0 (about 10 s)."""
    (tmp_path / "short.toml").write_text("eval_ebno_db = [10.0]\n")
    out = tmp_path / "run"
    done = _mfcomm(
        "train", "--task", "bits", "--config", str(tmp_path / "short.toml"), "--channel", RADIO, "--ebno-db", "10",
        "--bits-per-symbol", "2", "--codeword-bits", "120", "--iterations", "3", "--finetune-iterations", "2",
        "--batch-size", "16", "--no-baseline", "--out", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert {"spectrum.png", "constellation.png", "summary.json"} <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "bits" and summary["channel"] == RADIO
    assert summary["channel_uses_spent"] == (3 + 2) * 16 * 120 // 2


@pytest.mark.slow  # a benchmark's smoke test, about 2 minutes: make test-slow
def test_radio_benchmark_runs_end_to_end(tmp_path):
    """``benchmarks/radio.py --quick``: the grid at 15 dB, the throughput comparison, the front-end table, the page."""
    script = Path(__file__).parents[2] / "benchmarks" / "radio.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "radio.md").read_text()
    assert "`make bench-radio` (`python benchmarks/radio.py --quick`)" in page
    assert "| 4 | 15 |" in page and "| `engine=python` |" in page and "| fine | 15 |" in page
    runs = [tmp_path / "alone" / "trials" / "sps4-15dB-n2", tmp_path / "sweep" / "trials" / "sps1-15dB-n1"]
    assert all((run / "spectrum.png").is_file() for run in runs)

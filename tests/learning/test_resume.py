"""Interrupt, resume, divergence and the run directory of ``mfcomm train`` (issue #11, items 1, 5, 6).

Each test checks the state after the fault: where training stopped, what the checkpoint holds, which files
exist, and that a resumed run ends bit-identical to an uninterrupted one.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from mfcomm import cli
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import CHECKPOINT
from mfcomm.learning import checkpointing
from mfcomm.learning.feedback import FeedbackLink

FAST = [
    "--iterations",
    "200",
    "--batch-size",
    "256",
    "--checkpoint-every",
    "50",
    "--seed",
    "5",
    "--no-baseline",
    "--quiet",
]


def _signal_at(monkeypatch, call: int, signum: int = signal.SIGINT) -> None:
    """Send ``signum`` to this process from inside transmitter step number ``call`` (as the feedback link carries
    its losses)."""
    real, calls = FeedbackLink.__call__, []

    def link(self, losses):
        calls.append(1)
        if len(calls) == call:
            os.kill(os.getpid(), signum)
        return real(self, losses)

    monkeypatch.setattr(FeedbackLink, "__call__", link)


def _fail_at(monkeypatch, call: int) -> None:
    """Make the receiver's losses of transmitter step number ``call`` (and of every later one) NaN, as a diverged
    receiver's are, on their way into the feedback link."""
    real, calls = FeedbackLink.__call__, []

    def link(self, losses):
        calls.append(1)
        return real(self, losses * float("nan") if len(calls) >= call else losses)

    monkeypatch.setattr(FeedbackLink, "__call__", link)


def _rows(path: Path) -> list[str]:
    """metrics.csv without the wall-clock column."""
    lines = path.read_text().splitlines()
    drop = lines[0].split(",").index("seconds")
    return [",".join(v for i, v in enumerate(line.split(",")) if i != drop) for line in lines]


def test_sigint_checkpoints_and_resume_is_bit_identical(tmp_path, monkeypatch, capsys):
    _signal_at(monkeypatch, 130)
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 130
    err = capsys.readouterr().err.strip()
    assert (
        err == f"mfcomm train: interrupted (SIGINT) at iteration 130 of 200; resume with: mfcomm train --resume {out}"
    )
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]  # nothing that looks like a result
    assert checkpointing.read(out / CHECKPOINT)["iteration"] == 130

    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert not (out / CHECKPOINT).exists()
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "whole")]) == 0
    resumed, whole = load_file(out / "model.safetensors"), load_file(tmp_path / "whole" / "model.safetensors")
    assert resumed.keys() == whole.keys() and all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert _rows(out / "metrics.csv") == _rows(tmp_path / "whole" / "metrics.csv")


def test_a_bits_run_resumes_bit_identical(tmp_path, monkeypatch):
    """The bits task shares the run life cycle: SIGINT in the main loop checkpoints it, and ``--resume`` goes on
    through fine-tuning (the rate decaying to ``rx_lr_final``) to the uninterrupted run's weights and curve."""
    bits = ["--task", "bits", "--bits-per-symbol", "2", "--codeword-bits", "40", "--batch-size", "8"]
    loops = ["--iterations", "40", "--finetune-iterations", "20", "--checkpoint-every", "10"]
    args = ["train", *bits, *loops, "--seed", "5", "--no-baseline", "--quiet"]
    _signal_at(monkeypatch, 23)
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 130
    assert checkpointing.read(tmp_path / "a" / CHECKPOINT)["iteration"] == 23
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(tmp_path / "a"), "--quiet"]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    assert _rows(tmp_path / "a" / "metrics.csv") == _rows(tmp_path / "b" / "metrics.csv")


def test_model_based_resume_is_bit_identical(tmp_path, monkeypatch):
    from mfcomm.learning import model_based

    real, calls = model_based.descend, []

    def step(opt, loss):  # SIGTERM from inside optimiser step number 77
        calls.append(1)
        if len(calls) == 77:
            os.kill(os.getpid(), signal.SIGTERM)
        return real(opt, loss)

    monkeypatch.setattr(model_based, "descend", step)
    args = ["train", "--method", "model-based", *FAST]
    assert cli.main([*args, "--out", str(tmp_path / "a")]) == 128 + signal.SIGTERM
    assert checkpointing.read(tmp_path / "a" / CHECKPOINT)["iteration"] == 77
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(tmp_path / "a"), "--quiet"]) == 0
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()


@pytest.mark.integration
def test_sigterm_to_the_process_writes_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "mfcomm.cli",
        "train",
        "--iterations",
        "100000",
        "--checkpoint-every",
        "20",
        "--quiet",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while not (out / CHECKPOINT).exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted (SIGTERM) at iteration" in err and "Traceback" not in err
    stopped = int(err.split("at iteration ")[1].split()[0])
    assert checkpointing.read(out / CHECKPOINT)["iteration"] == stopped
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]


def test_nan_loss_stops_at_once_keeping_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    _fail_at(monkeypatch, 120)
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        (
            "mfcomm train: error: training diverged at transmitter step 120: a per-example loss is not finite; "
            f"last good checkpoint: {out / CHECKPOINT} (iteration 100)"
        )
    ]
    state = checkpointing.read(out / CHECKPOINT)
    assert state["iteration"] == 100
    assert all(torch.isfinite(v).all() for k, v in state["parts"]["tx"].items())
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT]


def test_divergence_before_any_checkpoint_leaves_nothing(tmp_path, monkeypatch, capsys):
    _fail_at(monkeypatch, 10)
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--out", str(out)]) == 2
    assert "diverged at transmitter step 10" in capsys.readouterr().err
    assert not out.exists()


def test_out_that_is_a_file_is_refused_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "f").write_text("mine")
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "f")]) == 2
    assert (
        capsys.readouterr().err.strip() == f"mfcomm train: error: --out {tmp_path / 'f'} exists and is not a directory"
    )
    assert (tmp_path / "f").read_text() == "mine"


def test_unwritable_or_full_out_is_refused_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(runs, "train", lambda *a, **k: pytest.fail("training started"))
    assert cli.main(["train", *FAST, "--out", "/proc/mfcomm-run"]) == 2
    assert capsys.readouterr().err.startswith("mfcomm train: error: cannot write to --out /proc/mfcomm-run")
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    assert cli.main(["train", *FAST, "--out", str(tmp_path / "full")]) == 2
    assert "not enough space for --out" in capsys.readouterr().err


def test_existing_run_is_refused_and_overwrite_replaces_all_of_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", *FAST, "--iterations", "50", "--out", str(out)]) == 0
    (out / "ser.csv").write_text("old evaluation")
    first = (out / "summary.json").read_text()
    assert cli.main(["train", *FAST, "--iterations", "50", "--seed", "6", "--out", str(out)]) == 2
    assert "already holds a run (summary.json)" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == first
    assert cli.main(["train", *FAST, "--iterations", "50", "--seed", "6", "--out", str(out), "--overwrite"]) == 0
    assert not (out / "ser.csv").exists() and (out / "summary.json").read_text() != first


def test_overwrite_never_empties_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["train", *FAST, "--out", str(tmp_path), "--overwrite"]) == 2
    assert "holds no run" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resume", "{tmp}/none"], "no checkpoint to resume from"),
        (["--resume", "{tmp}/bad"], "not a readable checkpoint"),
        (
            ["--resume", "{tmp}/bad", "--seed", "3"],
            "--resume continues a run as its checkpoint configured it: drop --seed",
        ),
    ],
)
def test_bad_resume_is_one_line(tmp_path, capsys, args, message):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / CHECKPOINT).write_bytes(b"not a checkpoint")
    assert cli.main(["train", *[a.format(tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.slow  # make test-faults, make test-slow
def test_resuming_a_black_box_run_needs_trust(tmp_path, monkeypatch, capsys):
    box = tmp_path / "box.py"
    box.write_text(
        "import numpy as np\nrng = np.random.default_rng(0)\ndef f(x):\n"
        "    return (x + 0.1 * rng.standard_normal(x.shape)).astype(np.complex64)\n"
    )
    _signal_at(monkeypatch, 30)
    out = tmp_path / "run"
    assert (
        cli.main(
            [
                "train",
                *FAST,
                "--iterations",
                "50",
                "--checkpoint-every",
                "10",
                "--channel",
                f"{box}:f",
                "--out",
                str(out),
            ]
        )
        == 130
    )
    assert capsys.readouterr().err.strip().endswith(f"resume with: mfcomm train --resume {out} --trust-config")
    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 2
    assert "--trust-config" in capsys.readouterr().err
    assert checkpointing.read(out / CHECKPOINT)["iteration"] == 30  # refused: the checkpoint stays as it was
    assert cli.main(["train", "--resume", str(out), "--trust-config", "--quiet"]) == 0
    assert (out / "summary.json").exists() and not (out / CHECKPOINT).exists()


# --- a checkpoint that torch reads but that is no checkpoint of this run: one line, the file left as it was ------


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> dict:
    """The state of a real checkpoint: a 16-message run stopped by SIGINT at iteration 30."""
    out = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.MonkeyPatch.context() as patch:
        _signal_at(patch, 30)
        args = ["train", *FAST, "--iterations", "50", "--checkpoint-every", "10", "--out", str(out)]
        assert cli.main(args) == 130
    return torch.load(out / CHECKPOINT, weights_only=True)


def _deep(state: dict) -> dict:
    return {**state, "config": "snr_db = " + "[" * 10_000 + "]" * 10_000 + "\n"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: {"weights": s["parts"]["tx"]}, "not an mfcomm checkpoint (format 1)"),
        (lambda s: next(iter(s["parts"]["tx"].values())), "not an mfcomm checkpoint (format 1)"),
        (
            lambda s: {k: v for k, v in s.items() if k != "parts"},
            "a malformed checkpoint: parts is missing, not a table",
        ),
        (lambda s: {**s, "iteration": "30"}, "a malformed checkpoint: iteration is a str, not an integer"),
        (lambda s: {**s, "iteration": True}, "a malformed checkpoint: iteration is a bool, not an integer"),
        (lambda s: {**s, "seconds": float("nan")}, "a malformed checkpoint: a negative iteration or time"),
        (
            lambda s: {**s, "config": "messages = [\n"},
            "a malformed checkpoint: its config is not TOML (TOMLDecodeError",
        ),
        (_deep, "a malformed checkpoint: its config is not TOML (RecursionError"),
        (
            lambda s: {**s, "config": s["config"].replace("messages = 16", "messages = 64")},
            "does not fit this run: its tx",
        ),
        (
            lambda s: {**s, "parts": {**s["parts"], "rx": [1, 2]}},
            "does not fit this run: its rx (TypeError: Expected state_dict to be dict-like",
        ),
        (lambda s: {**s, "parts": {"tx": s["parts"]["tx"]}}, "does not fit this run: its rx (KeyError"),
    ],
    ids=[
        "foreign dict",
        "a tensor",
        "no parts",
        "iteration as text",
        "iteration a bool",
        "NaN seconds",
        "config not TOML",
        "config nested too deeply",
        "another shape",
        "a part of the wrong type",
        "a part missing",
    ],
)
def test_a_foreign_or_malformed_checkpoint_is_one_line_and_left_as_it_was(
    interrupted, tmp_path, capsys, change, message
):
    out = tmp_path / "run"
    out.mkdir()
    torch.save(change(interrupted), out / CHECKPOINT)
    before = (out / CHECKPOINT).read_bytes()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mfcomm train: error: ") and message in err, err
    assert sorted(p.name for p in out.iterdir()) == [CHECKPOINT] and (out / CHECKPOINT).read_bytes() == before


def test_late_lossy_run_resumes_bit_for_bit(tmp_path, monkeypatch):
    """SIGINT in iteration 37 of a run with 3 steps of delay and 20% of frames lost checkpoints iteration 37 with its
    3 steps in flight (their losses, NaN where lost) and the link's counters; ``--resume`` then ends on the
    uninterrupted run's weights and log rows, byte for byte: nothing in flight is lost or sent twice."""
    args = [
        "train",
        *("--iterations", "60", "--batch-size", "256", "--checkpoint-every", "20", "--seed", "5"),
        *("--feedback", "quantized", "--feedback-delay", "3", "--feedback-loss", "0.2", "--feedback-frame", "32"),
        *("--threads", "1", "--no-baseline", "--quiet"),
    ]
    _signal_at(monkeypatch, 37)
    out = tmp_path / "a"
    assert cli.main([*args, "--out", str(out)]) == 130
    state = checkpointing.read(out / CHECKPOINT)
    assert state["iteration"] == 37
    in_flight = state["parts"]["delay"]
    assert in_flight["delay"] == 3 and len(in_flight["steps"]) == 3
    assert all(s["fed_back"].shape == (256,) and s["log_pi"].shape == (256,) for s in in_flight["steps"])
    link = state["parts"]["feedback"]
    assert link["frames_sent"] == 37 * 8 and 0 < link["frames_lost"] < link["frames_sent"]
    for s in in_flight["steps"]:  # whole frames of 32 lost, the rest quantised to 1 bit: two levels
        lost = s["fed_back"].isnan()
        assert bool((lost.view(-1, 32).all(dim=1) | ~lost.view(-1, 32).any(dim=1)).all())
        assert len(s["fed_back"][~lost].unique()) <= 2

    monkeypatch.undo()
    assert cli.main(["train", "--resume", str(out), "--quiet"]) == 0
    assert not (out / CHECKPOINT).exists()
    assert cli.main([*args, "--out", str(tmp_path / "b")]) == 0
    resumed, whole = load_file(out / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert resumed.keys() == whole.keys() and all(torch.equal(resumed[k], whole[k]) for k in whole)
    assert _rows(out / "metrics.csv") == _rows(tmp_path / "b" / "metrics.csv")

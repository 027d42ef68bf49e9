"""``mfcomm train --tensorboard``: event files in DIR/tensorboard that hold exactly metrics.csv and the
constellation, kept by the run's atomic publication, and nothing of them after a failed run or without the flag."""

import contextlib
import csv
import io
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util.tensor_util import make_ndarray

from mfcomm import cli

SHORT = ["--iterations", "100", "--batch-size", "256", "--no-baseline", "--quiet", "--init", "random"]


def train(*args) -> int:
    """``mfcomm train`` in this process, its output swallowed; the exit status."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return cli.main(["train", *map(str, args)])


def events(directory: Path) -> EventAccumulator:
    files = list(directory.iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents."), files
    return EventAccumulator(str(directory), size_guidance={"tensors": 0, "images": 0}).Reload()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tb") / "run"
    assert train(*SHORT, "--rx-steps", "1", "--tensorboard", "--out", out) == 0  # receiver steps: rx_loss too
    return out


def test_scalars_are_metrics_csv_row_for_row(run_dir):
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    logged = events(run_dir / "tensorboard")
    columns = [c for c in rows[0] if c != "iteration"]
    assert {"rx_loss", "tx_loss", "sigma2", "channel_uses", "seconds"} <= set(columns)
    assert set(logged.Tags()["tensors"]) == set(columns)
    for column in columns:
        expected = [(int(r["iteration"]), float(r[column])) for r in rows if r[column] != ""]
        got = [(e.step, float(make_ndarray(e.tensor_proto))) for e in logged.Tensors(column)]
        assert got == expected, column  # double precision: the values of metrics.csv, exactly
    assert len(rows) == 10


def test_constellation_is_drawn_at_the_first_and_last_rows(run_dir):
    images = events(run_dir / "tensorboard").Images("constellation")
    assert [i.step for i in images] == [10, 100]  # every_image 500 > 100 iterations: first and last rows only
    assert all(i.encoded_image_string.startswith(b"\x89PNG") and i.width > 100 for i in images)


def test_without_the_flag_an_overwritten_runs_logs_go_and_none_appear(run_dir):
    assert (run_dir / "tensorboard").is_dir()
    assert train(*SHORT, "--iterations", "20", "--out", run_dir, "--overwrite") == 0
    assert not (run_dir / "tensorboard").exists()
    assert (run_dir / "summary.json").is_file()


def test_a_run_that_fails_before_a_checkpoint_leaves_no_directory(tmp_path):
    box = tmp_path / "dies.py"  # a black box that works for a while (rows get logged), then raises
    box.write_text(
        "calls = 0\ndef f(x):\n    global calls\n    calls += 1\n    if calls > 60:\n"
        "        raise RuntimeError('radio unplugged')\n    return x\n"
    )
    out = tmp_path / "run"
    assert train(*SHORT, "--channel", f"{box}:f", "--checkpoint-every", "0", "--tensorboard", "--out", out) == 2
    assert not out.exists()

"""benchmarks/quality.py end to end in its --quick form (two tasks, one seed, into a temporary directory), its
--report-only re-aggregation, and its one-line errors."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "quality.py"
_spec = importlib.util.spec_from_file_location("quality_bench", SCRIPT)
quality_bench = sys.modules["quality_bench"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(quality_bench)


def quality(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300, check=False
    )


@pytest.mark.slow  # two trainings and their baselines in subprocesses: about a minute
def test_quick_two_tasks(tmp_path):
    result = quality(
        "--quick",
        "--tasks",
        "awgn-16-2,adc1",
        "--seeds",
        "1",
        "--jobs",
        "2",
        "--out",
        str(tmp_path / "runs"),
        "--results-dir",
        str(tmp_path / "results"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "results" / "quality.json").read_text())
    assert "--quick" in data["command"] and data["nproc"] >= 1 and data["date"]
    rows = {r["task"]: r for r in data["rows"]}
    assert set(rows) == {"awgn-16-2", "adc1"}
    for task, row in rows.items():
        assert row["status"] == "ok" and row["seed"] == 1
        assert 0 <= row["ser"] <= 1 and row["ser_ci"][0] <= row["ser"] <= row["ser_ci"][1]
        assert row["channel_uses_spent"] > 0 and 0 < row["train_seconds"] <= data["wall_seconds"]
        assert (tmp_path / "runs" / "trials" / f"{task}-seed1" / "summary.json").is_file()
    assert rows["awgn-16-2"]["iterations"] == 200 and rows["adc1"]["iterations"] == 100  # 5% of 4000 and of 2000
    assert rows["awgn-16-2"]["baseline"] == "QPSK x2" and 0 < rows["awgn-16-2"]["baseline_ser"] < 0.01
    for agg in data["tasks"]:
        ser = rows[agg["task"]]["ser"]
        assert agg["ser_median"] == agg["ser_min"] == agg["ser_max"] == ser
        assert agg["worst_vs_best_seed"] == 1.0 and agg["checks"]["worst_vs_best_seed"] is True
        assert agg["median_vs_baseline"] == ser / agg["baseline_ser"]
    assert (tmp_path / "results" / "quality.png").stat().st_size > 0
    assert "| awgn-16-2 |" in (tmp_path / "results" / "quality.md").read_text()
    assert not (tmp_path / "docs").exists()

    again = quality_bench.main(
        [
            "--quick",
            "--report-only",
            "--tasks",
            "awgn-16-2",
            "--seeds",
            "1",
            "--out",
            str(tmp_path / "runs"),
            "--results-dir",
            str(tmp_path / "again"),
        ]
    )
    assert again == 0
    reread = json.loads((tmp_path / "again" / "quality.json").read_text())["rows"][0]
    assert reread == rows["awgn-16-2"]


@pytest.mark.parametrize(
    "args",
    [
        ["--jobs", "0"],
        ["--workers", "0"],
        ["--jobs", "two"],
        ["--seeds", "1,x"],
        ["--seeds", "1,1"],
        ["--tasks", "nosuch"],
        ["--iterations-scale", "0"],
        ["--quick", "--results-dir", "docs/results"],
    ],
)
def test_bad_options_one_line_exit_2(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        quality_bench.parse_args(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err, err

"""``mfcomm sweep`` on Ray Tune (issue #12): the SPEC parser against bad specs (no Ray), then one small local sweep
whose trials equal standalone ``mfcomm train`` runs, with a failing trial recorded and a resume that runs only
what did not finish."""

import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from mfcomm import cli
from mfcomm.tune import spec

pytestmark = pytest.mark.integration  # sweeps on Ray

FAST = {"iterations": 100, "batch_size": 256, "compare_baseline": False, "checkpoint_every": 50}
FAST_TOML = {k: str(v).lower() for k, v in FAST.items()}
BAD_CHANNEL = """import pathlib
def f(x):
    with open(pathlib.Path(__file__).with_suffix(".calls"), "a") as log:  # one line per trial that runs it
        log.write("call\\n")
    raise RuntimeError("radio unplugged")
"""


def mfcomm(*args):
    """The CLI in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as usage:
            code = usage.code
    return code, out.getvalue(), err.getvalue()


def toml(tables: dict) -> str:
    """A SPEC.toml from {table: {key: TOML value text}}."""
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in keys.items()) for name, keys in tables.items())


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "results.csv", newline="") as f:
        return {r["trial"]: r for r in csv.DictReader(f)}


# --- the SPEC parser: every bad spec is one line, before any trial or directory ---------------------------------------

BAD_SPECS = {
    "not toml": ("[grid\nseed = [1]", "Expected"),
    "unknown table": ("[grids]\nseed = [1]\n", "unknown table or key 'grids'"),
    "unknown key": (toml({"base": {"iteratons": "10"}}), "[base]: unknown key(s) iteratons"),
    "unknown grid key": (toml({"grid": {"sigma": "[0.1]"}}), "[grid]: unknown key(s) sigma"),
    "grid not a list": (toml({"grid": {"seed": "3"}}), "[grid] seed must be a non-empty list of values, not 3"),
    "empty grid list": (toml({"grid": {"seed": "[]"}}), "[grid] seed must be a non-empty list"),
    "key twice": (toml({"base": {"seed": "1"}, "grid": {"seed": "[1, 2]"}}), "seed set in more than one of"),
    "not a distribution": (toml({"search": {"sigma2": "0.1"}}), "[search] sigma2: expected {uniform = [a, b]}"),
    "unknown distribution": (toml({"search": {"sigma2": "{normal = [0, 1]}"}}), "expected {uniform = [a, b]}"),
    "log_uniform from 0": (toml({"search": {"sigma2": "{log_uniform = [0, 0.3]}"}}), "0 < low < high, not [0, 0.3]"),
    "uniform reversed": (toml({"search": {"sigma2": "{uniform = [0.3, 0.1]}"}}), "low < high, not [0.3, 0.1]"),
    "empty choice": (toml({"search": {"rx_lr": "{choice = []}"}}), "choice needs a non-empty list"),
    "samples 0": (toml({"search": {"samples": "0", "sigma2": "{uniform = [0.01, 0.1]}"}}), "samples must be"),
    "samples float": (toml({"search": {"samples": "2.5", "sigma2": "{uniform = [0.01, 0.1]}"}}), "an integer"),
    "samples without a distribution": (toml({"search": {"samples": "4"}}), "needs a distribution"),
    "unknown metric": (toml({"search": {"metric": '"bler"'}}), "metric must be one of ser, channel_uses_spent"),
    "bad mode": (toml({"search": {"mode": '"lowest"'}}), "mode must be min or max"),
    "unknown scheduler": (toml({"search": {"scheduler": '"pbt"'}}), 'scheduler must be "asha"'),
    "asha on seconds": (toml({"search": {"scheduler": '"asha"', "metric": '"train_seconds"'}}), "needs metric ser"),
    "grace without asha": (toml({"search": {"grace_period": "100"}}), "grace_period is for scheduler"),
    "bad value": (
        toml({"grid": {"sigma2": "[0.05, 1.5]", "seed": "[1]"}}),
        "trial t001 (sigma2=1.5, seed=1): sigma2 must be a finite number in (0, 1), not 1.5",
    ),
    "bad drawn value": (toml({"search": {"samples": "3", "batch_size": "{choice = [256, 0]}"}}), "batch_size must be"),
    "too many trials": (toml({"grid": {"seed": str(list(range(101))), "rx_lr": str([0.01] * 100)}}), "at most 10000"),
    "nested too deeply": ("x = " + "[" * 10000 + "]" * 10000, "values nested too deeply to read"),
    "empty spec": ("", "no trials: [grid] is empty or missing; give each key a list, as seed = [1, 2, 3]"),
    "empty grid": (toml({"grid": {}}), "no trials: [grid] is empty or missing"),
    "base and an empty grid": (toml({"base": FAST_TOML, "grid": {}}), "no trials: [grid] is empty or missing"),
    "gpus for cpu": (toml({"resources": {"gpus_per_trial": "0.5"}}), 'gpus_per_trial is for device = "cuda"'),
    "unknown resource": (toml({"resources": {"cpus_per_trial": "2"}}), "[resources]: unknown key(s) cpus_per_trial"),
    "bits task": (
        toml({"base": {"task": '"bits"'}, "grid": {"seed": "[1]"}}),
        "ranks symbols and ofdm runs, not task bits",
    ),
    "two tasks": (
        toml({"grid": {"task": '["symbols", "ofdm"]'}}),
        "a sweep's trials are of one task, not ofdm and symbols",
    ),
    "ser of ofdm": (
        toml({"base": {"task": '"ofdm"'}, "grid": {"seed": "[1]"}, "search": {"metric": '"ser"'}}),
        "metric must be one of ebno_db_at_bler_0.1, bler, goodput, channel_uses_spent, train_seconds, not 'ser'",
    ),
    "asha on ofdm": (
        toml({"base": {"task": '"ofdm"'}, "grid": {"seed": "[1]"}, "search": {"scheduler": '"asha"'}}),
        "needs metric ser",
    ),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_one_line_and_nothing_starts(tmp_path, case):
    text, message = BAD_SPECS[case]
    (tmp_path / "s.toml").write_text(text)
    code, stdout, stderr = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "out")
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith(f"mfcomm sweep: error: {tmp_path / 's.toml'}: "), stderr
    assert message in stderr
    assert not (tmp_path / "out").exists()


def test_black_box_channel_needs_trust(tmp_path):
    (tmp_path / "bad.py").write_text(BAD_CHANNEL)
    (tmp_path / "s.toml").write_text(toml({"grid": {"channel": f'["awgn", "{tmp_path / "bad.py"}:f"]'}}))
    code, _, stderr = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "out")
    assert code == 2 and "pass --trust-config if you trust this SPEC" in stderr and stderr.count("\n") == 1


def test_grid_and_search_give_the_same_trials_every_time(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        toml(
            {
                "grid": {"seed": "[1, 2]"},
                "search": {
                    "samples": "5",
                    "sigma2": "{log_uniform = [0.005, 0.3]}",
                    "batch_size": "{log_uniform = [128, 1024]}",
                    "rx_lr": "{choice = [0.003, 0.01]}",
                    "tx_lr": "{uniform = [0.001, 0.02]}",
                },
            }
        )
    )
    first, again = spec.parse(path), spec.parse(path)
    assert [(t.id, t.overrides) for t in first.trials] == [(t.id, t.overrides) for t in again.trials]
    assert [t.id for t in first.trials] == [f"t{i:03d}" for i in range(10)]
    assert first.swept == ["seed", "sigma2", "batch_size", "rx_lr", "tx_lr"]
    for draw in range(5):  # each draw with every seed: the spread of one configuration over seeds
        pair = first.trials[2 * draw : 2 * draw + 2]
        assert [t.cfg.seed for t in pair] == [1, 2]
        assert {k: v for k, v in pair[0].overrides.items() if k != "seed"} == {
            k: v for k, v in pair[1].overrides.items() if k != "seed"
        }
    for t in first.trials:
        assert 0.005 <= t.cfg.sigma2 <= 0.3 and 128 <= t.cfg.batch_size <= 1024 and t.cfg.rx_lr in (0.003, 0.01)
        assert isinstance(t.cfg.batch_size, int) and 0.001 <= t.cfg.tx_lr <= 0.02
    assert len({t.cfg.sigma2 for t in first.trials}) == 5
    path.write_text(path.read_text() + "sample_seed = 1\n")
    assert [t.cfg.sigma2 for t in spec.parse(path).trials] != [t.cfg.sigma2 for t in first.trials]


def test_asha_measures_the_ser_it_stops_on(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        toml(
            {
                "base": {"iterations": "1600", "log_every": "25"},
                "grid": {"seed": "[1, 2]"},
                "search": {"scheduler": '"asha"'},
            }
        )
    )
    sweep = spec.parse(path)
    assert (sweep.scheduler, sweep.grace_period, sweep.max_t) == ("asha", 100, 1600)
    assert {t.cfg.ser_every for t in sweep.trials} == {100}


def test_an_ofdm_sweep_ranks_by_the_eb_n0_at_10_percent_bler_and_one_not_reaching_it_last(tmp_path):
    from mfcomm.tune.report import best_configuration

    (tmp_path / "s.toml").write_text(toml({"base": {"task": '"ofdm"'}, "grid": {"pilots": '["kronecker", "none"]'}}))
    sweep = spec.parse(tmp_path / "s.toml")
    assert (sweep.task, sweep.metric, sweep.mode) == ("ofdm", "ebno_db_at_bler_0.1", "min")
    ok = {"status": "ok", "bler": 0.01, "goodput": 1.6, "channel_uses_spent": 1, "train_seconds": 1.0}
    values = {"t000": {**ok, "ebno_db_at_bler_0.1": ""}, "t001": {**ok, "ebno_db_at_bler_0.1": 9.5}}
    assert best_configuration(sweep, values)[0] == "pilots=none"
    (tmp_path / "g.toml").write_text(
        toml({"base": {"task": '"ofdm"'}, "grid": {"seed": "[1]"}, "search": {"metric": '"goodput"'}})
    )
    assert spec.parse(tmp_path / "g.toml").mode == "max"


def test_importing_the_cli_does_not_import_ray():
    code = "import sys, mfcomm.cli; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=120).returncode == 0


def test_out_is_checked_before_ray_starts(tmp_path):
    (tmp_path / "s.toml").write_text(toml({"base": FAST_TOML, "grid": {"seed": "[1, 2]"}}))
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "full")
    assert code == 2 and err == f"mfcomm sweep: error: --out {tmp_path / 'full'} is not empty; choose another --out\n"
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "full", "--resume")
    assert code == 2 and "holds no sweep to resume (trials.json missing)" in err
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--resume")
    assert code == 2 and "--resume needs --out DIR" in err


def test_an_unreachable_cluster_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "s.toml").write_text(toml({"base": FAST_TOML}))
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = mfcomm(
        "sweep", tmp_path / "s.toml", "--out", tmp_path / "out", "--address", f"127.0.0.1:{port}", "--quiet"
    )
    assert (
        code == 2
        and err == f"mfcomm sweep: error: cannot reach the Ray cluster at 127.0.0.1:{port}: Connection refused\n"
    )
    assert not (tmp_path / "out").exists()


# --- one small local sweep on Ray -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for this module's sweeps (mfcomm sweep uses the Ray this process already runs)."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}  # ray.init replaces SIGTERM's
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()
    for s, handler in handlers.items():
        signal.signal(s, handler)


@pytest.fixture(scope="module")
def sweep(ray_session, tmp_path_factory):
    """Four trials on two workers: AWGN with seeds 3 and 4, and a black box that raises, with the same seeds."""
    folder = tmp_path_factory.mktemp("sweep")
    (folder / "bad.py").write_text(BAD_CHANNEL)
    (folder / "s.toml").write_text(
        toml({"base": FAST_TOML, "grid": {"channel": f'["awgn", "{folder / "bad.py"}:f"]', "seed": "[3, 4]"}})
    )
    result = mfcomm("sweep", folder / "s.toml", "--out", folder / "out", "--workers", 2, "--trust-config", "--quiet")
    return folder, result


def test_sweep_records_every_trial_and_a_failing_one_does_not_stop_it(sweep):
    folder, (code, stdout, stderr) = sweep
    out = folder / "out"
    assert code == 0, stderr
    assert (
        stdout == f"4 trials, 2 failed; best (ser, mean over seeds): channel=awgn; wrote {out / 'results.csv'}, "
        f"{out / 'report.md'}\n"
    )
    assert "warning: 2 trial(s) failed (t002, t003)" in stderr
    table = rows(out)
    assert list(table) == ["t000", "t001", "t002", "t003"]
    assert list(table["t000"]) == [
        "trial",
        "channel",
        "seed",
        "ser",
        "ser_ci_low",
        "ser_ci_high",
        "channel_uses_spent",
        "train_seconds",
        "iterations_run",
        "status",
        "error",
    ]
    assert [(r["channel"], r["seed"], r["status"]) for r in table.values()] == [
        ("awgn", "3", "ok"),
        ("awgn", "4", "ok"),
        (f"{folder / 'bad.py'}:f", "3", "failed"),
        (f"{folder / 'bad.py'}:f", "4", "failed"),
    ]
    assert (folder / "bad.calls").read_text() == "call\n" * 2
    for r in list(table.values())[2:]:
        assert "radio unplugged" in r["error"] and "\n" not in r["error"] and r["ser"] == ""
    for r in list(table.values())[:2]:
        assert float(r["ser_ci_low"]) <= float(r["ser"]) <= float(r["ser_ci_high"]) and r["iterations_run"] == "100"
    assert {"report.md", "best-config.toml", "ser-channel.png", "results.csv", "trials.json", "trials"} == {
        p.name for p in out.iterdir()
    }
    report = (out / "report.md").read_text()
    assert "2 ok, 0 stopped early, 2 failed, 0 not run" in report and "## Failed trials" in report


def test_trials_equal_standalone_mfcomm_train(sweep, tmp_path):
    folder, _ = sweep
    for trial, seed in (("t000", 3), ("t001", 4)):
        options = ["--iterations", 100, "--batch-size", 256, "--no-baseline", "--checkpoint-every", 50]
        assert mfcomm("train", *options, "--seed", seed, "--out", tmp_path / trial, "--quiet")[0] == 0
        alone = json.loads((tmp_path / trial / "summary.json").read_text())
        swept = json.loads((folder / "out" / "trials" / trial / "summary.json").read_text())
        assert swept["ser"] == alone["ser"] and swept["ser_ci"] == alone["ser_ci"]  # bit for bit
        assert swept["channel_uses_spent"] == alone["channel_uses_spent"]
        a, b = (
            load_file(tmp_path / trial / "model.safetensors"),
            load_file(folder / "out" / "trials" / trial / "model.safetensors"),
        )
        assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
        assert list((folder / "out" / "trials" / trial / "tensorboard").glob("events.out.tfevents.*"))
    best = (folder / "out" / "best-config.toml").read_text()
    assert 'channel = "awgn"' in best and "iterations = 100" in best


def test_a_trials_config_toml_reproduces_it_bit_for_bit_threads_included(sweep, tmp_path):
    folder, _ = sweep
    trial = folder / "out" / "trials" / "t000"
    assert "threads = 1\n" in (trial / "config.toml").read_text()  # a CPU trial runs on one thread, and says so
    assert "threads = 1\n" in (folder / "out" / "best-config.toml").read_text()
    assert json.loads((trial / "summary.json").read_text())["threads"] == 1
    code, _, err = mfcomm("train", "--config", trial / "config.toml", "--out", tmp_path / "again", "--quiet")
    assert code == 0, err
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (trial / "model.safetensors").read_bytes()
    assert json.loads((tmp_path / "again" / "summary.json").read_text())["threads"] == 1


def test_resume_runs_only_what_did_not_finish(sweep):
    folder, _ = sweep
    out = folder / "out"
    before = rows(out)
    kept = {p: p.stat().st_mtime_ns for p in (out / "trials" / "t000").iterdir()}
    (out / "trials" / "t001" / "summary.json").unlink()
    with open(out / "results.csv", "w", newline="") as f:  # t001's row lost too, as if the sweep died before it
        writer = csv.DictWriter(f, list(before["t000"]))
        writer.writeheader()
        writer.writerows(r for t, r in before.items() if t != "t001")
    code, _, stderr = mfcomm("sweep", folder / "s.toml", "--out", out, "--resume", "--trust-config", "--quiet")
    assert code == 0, stderr
    after = rows(out)
    assert list(after) == list(before)
    assert after["t001"]["ser"] == before["t001"]["ser"] and after["t001"]["status"] == "ok"
    assert {p: p.stat().st_mtime_ns for p in (out / "trials" / "t000").iterdir()} == kept  # t000 not run again
    assert [after[t]["status"] for t in ("t002", "t003")] == ["failed", "failed"]
    assert (folder / "bad.calls").read_text() == "call\n" * 4  # failed trials run again
    (folder / "s.toml").write_text((folder / "s.toml").read_text().replace("iterations = 100", "iterations = 90"))
    code, _, stderr = mfcomm("sweep", folder / "s.toml", "--out", out, "--resume", "--trust-config")
    assert code == 2 and "the SPEC differs from the sweep in" in stderr and "(trial t000)" in stderr


DYING_CHANNEL = """import os, pathlib, signal
import numpy as np
MARK, calls = pathlib.Path(__file__).with_suffix(".died"), 0
def ray_worker():
    pid = os.getppid()  # the black box runs in a process of its own, maybe under mfcomm's reaper, below Ray's worker
    if b"reaper.py" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
        pid = int(pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    return pid
def f(x):
    global calls
    calls += 1
    if calls == 70 and not MARK.exists():  # Ray's worker dies mid-trial (after the checkpoint at 50), once
        MARK.write_text("died")
        os.kill(ray_worker(), signal.SIGKILL)
    return (np.tanh(x.real) + 1j * np.tanh(x.imag)).astype(np.complex64)
"""


@pytest.mark.slow  # about 30 s: a worker restarts
def test_a_killed_worker_is_retried_and_resumes_from_the_checkpoint(ray_session, tmp_path):
    (tmp_path / "dying.py").write_text(DYING_CHANNEL)
    channel = f"{tmp_path / 'dying.py'}:f"
    (tmp_path / "s.toml").write_text(toml({"base": {**FAST_TOML, "channel": f'"{channel}"'}, "grid": {"seed": "[5]"}}))
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "out", "--trust-config", "--quiet")
    assert code == 0, err
    assert (tmp_path / "dying.died").exists() and rows(tmp_path / "out")["t000"]["status"] == "ok"
    assert "mfcomm sweep: trial t000: its worker process died; retrying" in err
    options = ["--iterations", 100, "--batch-size", 256, "--no-baseline", "--checkpoint-every", 50, "--seed", 5]
    assert mfcomm("train", "--channel", channel, *options, "--out", tmp_path / "alone", "--quiet")[0] == 0
    a, b = (
        load_file(tmp_path / "alone" / "model.safetensors"),
        load_file(tmp_path / "out" / "trials" / "t000" / "model.safetensors"),
    )
    assert all((a[k] == b[k]).all() for k in a)  # resumed from iteration 100's checkpoint: bit-identical


@pytest.mark.slow  # about a minute: a local Ray started by the command itself, twice
def test_sigint_stops_the_sweep_cleanly_and_resume_finishes_it(tmp_path):
    (tmp_path / "s.toml").write_text(toml({"base": {**FAST_TOML, "iterations": "1000"}, "grid": {"seed": "[1, 2, 3]"}}))
    command = [
        sys.executable,
        "-m",
        "mfcomm.cli",
        "sweep",
        str(tmp_path / "s.toml"),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "2",
        "--quiet",
    ]
    sweep = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # until a trial has written a checkpoint
        if list((tmp_path / "out").glob("trials/*/checkpoint.pt")) or sweep.poll() is not None:
            break
        time.sleep(0.2)
    sweep.send_signal(signal.SIGINT)
    _, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("mfcomm sweep: interrupted (SIGINT): ") and last.endswith(
        f"of 3 trials done; resume with: mfcomm sweep {tmp_path / 's.toml'} --out {tmp_path / 'out'} --resume"
    )
    assert "Traceback" not in err
    resumed = subprocess.run([*command, "--resume"], check=False, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["status"] for r in rows(tmp_path / "out").values()] == ["ok"] * 3
    assert not list((tmp_path / "out").glob("trials/*/checkpoint.pt")) and not (tmp_path / "out" / ".ray").exists()


def test_an_ofdm_sweep_over_pilot_patterns_writes_its_coded_results_and_report(ray_session, tmp_path):
    base = {"task": '"ofdm"', "subcarriers": "12", "iterations": "6", "batch_size": "8", "finetune_iterations": "0"}
    base |= {"checkpoint_every": "0", "compare_baseline": "false", "eval_ebno_db": "[4.0]"}
    (tmp_path / "s.toml").write_text(toml({"base": base, "grid": {"pilots": '["kronecker", "none"]'}}))
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "out", "--workers", 2, "--quiet")
    assert code == 0, err
    table = rows(tmp_path / "out")
    assert list(table["t000"]) == [
        "trial", "pilots", "seed", "ebno_db_at_bler_0.1", "bler", "goodput",
        "channel_uses_spent", "train_seconds", "iterations_run", "status", "error",
    ]  # fmt: skip
    assert [(r["pilots"], r["status"], r["bler"], r["ebno_db_at_bler_0.1"]) for r in table.values()] == [
        ("kronecker", "ok", "1.0", ""),  # 6 iterations: not near 10% BLER at 4 dB
        ("none", "ok", "1.0", ""),
    ]
    assert int(table["t000"]["channel_uses_spent"]) == 6 * 8 * 14 * 12
    report = (tmp_path / "out" / "report.md").read_text()
    assert "mean Eb/N0 at 10% BLER (dB)" in report and "not reached" in report
    assert (tmp_path / "out" / "ebno_db_at_bler_0.1-pilots.png").is_file()


@pytest.mark.slow  # about 40 s
def test_asha_stops_poor_trials_early_and_lets_the_others_finish(ray_session, tmp_path):
    (tmp_path / "s.toml").write_text(
        toml(
            {
                "base": {**FAST_TOML, "iterations": "400"},
                "grid": {"sigma2": "[0.9, 0.05, 0.8, 0.7]"},
                "search": {"scheduler": '"asha"'},
            }
        )
    )
    code, _, err = mfcomm("sweep", tmp_path / "s.toml", "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    table = rows(tmp_path / "out")
    assert table["t001"]["status"] == "ok" and table["t001"]["iterations_run"] == "400"
    stopped = [r for r in table.values() if r["status"] == "stopped early"]
    assert stopped and all(int(r["iterations_run"]) < 400 and float(r["ser"]) > 0 for r in stopped)

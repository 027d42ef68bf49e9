"""The command line: the shared contract script, one-line errors, and no half-written results."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mfcomm import cli

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT.parent / "shared" / "contract" / "check_cli.sh"


def mfcomm(*args):
    """The CLI in this process: what a shell would see, without the seconds each process spends importing torch."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in args])
        except SystemExit as usage:
            code = usage.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def mfcomm_process(*args):
    return subprocess.run(
        [sys.executable, "-m", "mfcomm.cli", *map(str, args)], capture_output=True, text=True, timeout=300, check=False
    )


def _assert_one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1, result.stderr


@pytest.mark.slow  # two minutes; .ci/run runs the script itself after make test
@pytest.mark.skipif(not CONTRACT.is_file(), reason="shared/contract/check_cli.sh is not beside this checkout")
def test_shared_cli_contract(tmp_path):
    mf = shutil.which("mfcomm", path=str(Path(sys.executable).parent))
    env = {**os.environ, "MFCOMM": mf}
    result = subprocess.run(
        ["bash", str(CONTRACT)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contract: all checks passed" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--messages", "1"],
        ["--channel-uses", "0"],
        ["--snr-db", "nan"],
        ["--channel", "nosuch"],
        ["--channel", "/nonexistent.py:f"],
        ["--iterations", "-3"],
        ["--config", "/nonexistent.toml"],
        ["--device", "cuda:7"],
        ["--snr-db", "3", "--ebno-db", "3"],
        ["--sigma2", "2"],
    ],
)
def test_bad_train_input_is_one_line_and_writes_nothing(tmp_path, args):
    result = mfcomm(
        "train",
        *args,
        "--iterations" if "--iterations" not in args else "--seed",
        "2",
        "--out",
        tmp_path / "out",
        "--quiet",
    )
    _assert_one_line_error(result)
    assert not (tmp_path / "out").exists()


BAD_CHANNELS = {
    "shape": "def f(x):\n    return x[:, :1]\n",
    "dtype": "import numpy as np\ndef f(x):\n    return x.astype(np.complex128)\n",
    "non-finite": "import numpy as np\ndef f(x):\n    return np.full_like(x, np.nan)\n",
    "raised": "def f(x):\n    raise RuntimeError('radio unplugged')\n",
}


@pytest.mark.parametrize("problem", BAD_CHANNELS)
def test_bad_black_box_stops_training_with_one_line(tmp_path, problem):
    path = tmp_path / "chan.py"
    path.write_text(BAD_CHANNELS[problem])
    result = mfcomm("train", "--channel", f"{path}:f", "--iterations", "5", "--out", tmp_path / "out", "--quiet")
    _assert_one_line_error(result)
    assert problem in result.stderr and "chan.py:f" in result.stderr
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out*"))  # no staging left behind either


@pytest.mark.integration
def test_train_then_evaluate_real_signalling_with_hamming_baseline(tmp_path):
    out = tmp_path / "ae74"
    result = mfcomm(
        "train",
        "--signalling",
        "real",
        "--messages",
        "16",
        "--channel-uses",
        "7",
        "--ebno-db",
        "6",
        "--iterations",
        "100",
        "--out",
        out,
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["snr_db"] == pytest.approx(6 + 10 * __import__("math").log10(4 / 7))
    result = mfcomm("evaluate", out, "--ebno-db", "0:6:3", "--target-errors", "200", "--quiet")
    assert result.returncode == 0, result.stderr
    header, *rows = (out / "ser.csv").read_text().splitlines()
    assert "baseline_ser" in header and len(rows) == 3 and "Hamming" in rows[0]


@pytest.mark.integration
def test_a_real_process_exits_2_with_one_line(tmp_path):
    """The in-process checks above, once through a real process: exit status, stderr, nothing written."""
    box = tmp_path / "chan.py"
    box.write_text(BAD_CHANNELS["raised"])
    for args in (["--snr-db", "nan"], ["--channel", f"{box}:f", "--iterations", "5"]):
        result = mfcomm_process("train", *args, "--out", tmp_path / "out", "--quiet")
        _assert_one_line_error(result)
        assert result.returncode == 2 and not (tmp_path / "out").exists()


def test_evaluate_missing_run_is_one_line(tmp_path):
    _assert_one_line_error(mfcomm("evaluate", tmp_path / "nothing"))
    _assert_one_line_error(mfcomm("evaluate", tmp_path, "--snr-db", "5:1:1"))


def test_gradcheck_writes_csv_and_png(tmp_path):
    result = mfcomm(
        "gradcheck",
        "--sigma2",
        "0.5,0.05",
        "--batch-sizes",
        "64",
        "--trials",
        "10",
        "--variants",
        "plain,batch",
        "--pretrain-iterations",
        "10",
        "--out",
        tmp_path / "gc",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    header, *rows = (tmp_path / "gc" / "gradcheck.csv").read_text().splitlines()
    for column in ("variant", "sigma2", "batch", "bias", "variance", "cosine", "samples_for_cosine"):
        assert column in header
    assert len(rows) == 4 and (tmp_path / "gc" / "gradcheck.png").stat().st_size > 0
    _assert_one_line_error(mfcomm("gradcheck", "--variants", "nosuch", "--out", tmp_path / "x"))
    _assert_one_line_error(mfcomm("gradcheck", "--sigma2", "1.5", "--out", tmp_path / "x"))


def test_estimator_options_from_the_command_line(tmp_path):
    out = tmp_path / "vr"
    result = mfcomm(
        "train",
        "--iterations",
        "20",
        "--batch-size",
        "512",
        "--perturbations",
        "4",
        "--antithetic",
        "--loss-baseline",
        "message",
        "--feedback",
        "quantized",
        "--feedback-bits",
        "2",
        "--sigma2-final",
        "0.01",
        "--rx-steps",
        "0",
        "--rx-on-tx-batch",
        "--no-keep-best",
        "--out",
        out,
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    config = (out / "config.toml").read_text()
    assert "antithetic = true" in config and 'feedback = "quantized"' in config and "rx_on_tx_batch = true" in config
    summary = json.loads((out / "summary.json").read_text())
    assert summary["channel_uses_spent"] == 20 * 512 * 4 * 2  # rx_steps 0: 512 messages x 4 perturbations x n
    _assert_one_line_error(mfcomm("train", "--perturbations", "3", "--antithetic", "--out", tmp_path / "x"))
    # rx_steps 0 without rx_on_tx_batch (the paper recipe's; the default has it on): the receiver never learns
    _assert_one_line_error(mfcomm("train", "--recipe", "paper", "--rx-steps", "0", "--out", tmp_path / "x"))


def test_hanging_black_box_times_out_with_one_line(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text(
        "import time\ncalls = 0\ndef f(x):\n    global calls\n    calls += 1\n"
        "    if calls > 3:\n        time.sleep(600)\n    return x\n"
    )
    result = mfcomm(
        "train",
        "--channel",
        f"{path}:f",
        "--iterations",
        "50",
        "--channel-timeout",
        "1",
        "--out",
        tmp_path / "out",
        "--quiet",
    )
    _assert_one_line_error(result)
    assert "did not answer within 1 s" in result.stderr and "slow.py:f" in result.stderr
    assert not (tmp_path / "out" / "summary.json").exists()


def test_failing_black_box_keeps_the_last_good_checkpoint(tmp_path):
    from mfcomm.learning import checkpointing

    path = tmp_path / "flaky.py"
    path.write_text(
        "import numpy as np\ncalls = 0\ndef f(x):\n    global calls\n    calls += 1\n"
        "    return x if calls <= 100 else np.full_like(x, np.nan)\n"
    )
    out = tmp_path / "out"
    result = mfcomm(
        "train",
        "--channel",
        f"{path}:f",
        "--iterations",
        "200",
        "--checkpoint-every",
        "20",
        "--rx-steps",
        "1",
        "--out",
        out,
        "--quiet",
    )
    _assert_one_line_error(result)  # 2 calls per iteration (rx, tx): the 101st call is in iteration 51
    assert (
        "non-finite" in result.stderr and "last good checkpoint" in result.stderr and "(iteration 40)" in result.stderr
    )
    assert not (out / "summary.json").exists()
    state = checkpointing.read(out / "checkpoint.pt")
    assert state["iteration"] == 40 and "flaky.py:f" in state["config"]
    assert state["parts"]["tx"] and state["parts"]["rx"]

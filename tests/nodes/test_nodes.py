"""Three-process training: the wire format, time-outs and errors, the loopback ring against in-process
training (bit for bit), and killing a node mid-run and restarting it."""

import csv
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import zmq
from safetensors.torch import load_file

from mfcomm.config.files import configure
from mfcomm.errors import NodeError
from mfcomm.experiment import runs
from mfcomm.nodes import wire
from mfcomm.nodes.auth import Seal
from mfcomm.nodes.checkpoints import fingerprint
from mfcomm.nodes.launcher import assemble, free_ports
from mfcomm.nodes.link import NodeOptions
from mfcomm.nodes.node import run_node
from mfcomm.nodes.schedule import pipelined

pytestmark = pytest.mark.integration  # three-process training

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DEADLINE = 300  # seconds: only a guard against a hang, never a performance assertion

# A black-box channel whose noise is a function of its input (so a channel node restored from a
# checkpoint reproduces it), and which can hold one call until the test says go.
GATED_CHANNEL = """
import os, time, zlib
import numpy as np

calls = 0

def channel(x):
    global calls
    calls += 1
    if calls == int(os.environ.get("MFCOMM_TEST_HOLD_AT", "0")):
        open(os.environ["MFCOMM_TEST_HELD"], "w").close()
        while not os.path.exists(os.environ["MFCOMM_TEST_RELEASE"]):
            time.sleep(0.01)
    rng = np.random.default_rng(zlib.crc32(x.tobytes()))
    w = rng.standard_normal(x.shape + (2,)).astype(np.float32) * np.float32(0.2)
    return (x + (w[..., 0] + 1j * w[..., 1])).astype(np.complex64)
"""

FAILING_CHANNEL = """
calls = 0

def channel(x):
    global calls
    calls += 1
    if calls == 5:
        raise ValueError("boom")
    return x
"""


def mfcomm(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "mfcomm.cli", *map(str, args)], env=ENV, text=True, **kwargs)


def make_key(directory):
    """A key file as the nodes want it: 64 random hex digits, readable by its owner only."""
    path = directory / "node.key"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


def options(key, timeout=60.0, max_bytes=64 << 20):
    ports = free_ports(3)
    return NodeOptions(*(f"127.0.0.1:{p}" for p in ports), peer_timeout=timeout, max_bytes=max_bytes, key_file=str(key))


def same_training(run_dir_or_run, cfg):
    """The three-process result equals ``mfcomm train``'s in-process training with the same seed, bit for bit
    (on one thread, as the nodes run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        reference = runs.train(cfg, quiet=True, evaluate=False)
    finally:
        torch.set_num_threads(threads)
    tx, rx = reference.tx, reference.rx
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in reference.metrics]
    if isinstance(run_dir_or_run, Path):
        weights = load_file(run_dir_or_run / "model.safetensors")
        with open(run_dir_or_run / "metrics.csv") as f:
            metrics = [{k: float(v) for k, v in r.items() if v != ""} for r in csv.DictReader(f)]
    else:
        run = run_dir_or_run
        weights = {
            **{f"tx.{k}": v for k, v in run.tx.state_dict().items()},
            **{f"rx.{k}": v for k, v in run.rx.state_dict().items()},
        }
        metrics = run.metrics
    for prefix, net in (("tx", tx), ("rx", rx)):
        for k, v in net.state_dict().items():
            assert torch.equal(weights[f"{prefix}.{k}"], v), f"{prefix}.{k} differs"
    assert [r["iteration"] for r in metrics] == [r["iteration"] for r in rows]
    for got, want in zip(metrics, rows, strict=True):
        assert {k: got[k] for k in want} == want
    return metrics


# --- the wire format ---------------------------------------------------------------------------------


def data_frames(x=None, **changes):
    x = torch.zeros(4, 2, dtype=torch.complex64) if x is None else x
    frames = wire.encode(
        "data", x, epoch=1, iteration=1, step=0, kinds=["rx"], blocks=[x.shape[0]], last=False, reply=False
    )
    header = {**json.loads(frames[0]), **changes}
    return [json.dumps(header).encode(), frames[1]]


def test_round_trip_keeps_every_bit():
    x = torch.randn(512, 2, dtype=torch.complex64)
    msg = wire.decode(
        wire.encode(
            "data", x, epoch=3, iteration=7, step=0, kinds=["rx", "tx"], blocks=[256, 256], last=True, reply=True
        ),
        1 << 20,
    )
    assert msg.type == "data" and msg["iteration"] == 7 and msg["last"] is True and msg["kinds"] == ["rx", "tx"]
    assert torch.equal(msg.array, x)


@pytest.mark.parametrize(
    "frames, reason",
    [
        ([b"\xff\xfe"], "not UTF-8 JSON"),
        ([b"[1, 2]"], "not a JSON object"),
        ([b'{"v": 1, "type": "launch"}'], "unknown type"),
        ([b'{"v": 2, "type": "done", "epoch": 1}'], "wire version"),
        ([b'{"v": 1, "type": "done"}'], "header has fields"),
        ([b'{"v": 1, "type": "done", "epoch": 1, "extra": 0}'], "header has fields"),
        ([b'{"v": 1, "type": "done", "epoch": true}'], "not a valid int"),
        ([b'{"v": 1, "type": "done", "epoch": -1}'], "not a valid int"),
        ([b'{"v": 1, "type": "done", "epoch": 1}', b"payload"], "should not have"),
        ([b"{}", b"", b""], "3 frames"),
        ([b" " * (wire.HEADER_LIMIT + 1)], "header of"),
        (data_frames(dtype="float64"), "dtype"),
        (data_frames(shape=[4, 3]), "does not hold shape"),
        (data_frames(shape=[8]), "expected 2 non-negative integers"),
        (data_frames(kinds=["steal"]), "data kinds"),
        (data_frames(kinds=[]), "data kinds"),
        (data_frames(kinds=["rx", "tx"]), "data kinds"),
        (data_frames(kinds=[1]), "not a valid list"),
        (data_frames(blocks=[3]), "do not add up"),
        (data_frames()[:1], "no payload frame"),
        (data_frames(torch.full((4, 2), float("nan"), dtype=torch.complex64)), "non-finite"),
    ],
)
def test_malformed_messages_are_one_line_errors(frames, reason):
    with pytest.raises(NodeError, match=reason) as err:
        wire.decode(frames, 1 << 20)
    assert "\n" not in str(err.value)


def test_oversized_message_is_an_error():
    with pytest.raises(NodeError, match="exceeds the limit of 4096 bytes"):
        wire.decode(data_frames(torch.zeros(512, 2, dtype=torch.complex64)), 4096)


def test_encode_refuses_the_wrong_dtype():
    with pytest.raises(NodeError, match="expected complex64"):
        wire.encode(
            "data", torch.zeros(4, 2), epoch=1, iteration=1, step=0, kinds=["rx"], blocks=[4], last=False, reply=False
        )


# --- time-outs and errors between peers ----------------------------------------------------------------


def test_silent_peers_give_a_clear_error_not_a_hang(tmp_path):
    cfg, key = configure(overrides={"iterations": 10}), make_key(tmp_path)
    with pytest.raises(NodeError, match=r"no message for 0.5 s"):
        run_node("rx", cfg, options(key, timeout=0.5), tmp_path / "rx")
    with pytest.raises(NodeError, match=r"did not answer within 0.5 s"):
        run_node("tx", cfg, options(key, timeout=0.5), tmp_path / "tx")


@pytest.mark.parametrize(
    "frames, max_bytes, reason",
    [
        ([b"not json"], 1 << 20, "malformed message: header is not UTF-8 JSON"),
        (data_frames(torch.zeros(1000, 2, dtype=torch.complex64)), 8192, "exceeds the limit of 8192 bytes"),
    ],
)
def test_an_authentic_bad_message_stops_the_node_and_the_ring_hears_why(tmp_path, frames, max_bytes, reason):
    cfg, key = configure(overrides={"iterations": 10}), make_key(tmp_path)
    opts = options(key, timeout=30.0, max_bytes=max_bytes)
    secret = key.read_text().strip().encode()
    channel = Seal(secret, fingerprint(cfg), "channel", "rx", "tx")  # stands in for the channel node
    tx = Seal(secret, fingerprint(cfg), "tx", "channel", "rx")  # and for the tx node, which the rx node reports to
    context = zmq.Context()
    successor = context.socket(zmq.PULL)  # stands in for the tx node, which the rx node reports to
    successor.bind(f"tcp://{opts.tx}")
    raised = []

    def run_rx():
        with pytest.raises(NodeError) as info:
            run_node("rx", cfg, opts, tmp_path / "rx")
        raised.append(info)

    node = threading.Thread(target=run_rx)
    node.start()
    assert successor.poll(DEADLINE * 1000), "the rx node never said hello"
    assert wire.decode(tx.open(successor.recv_multipart()), 1 << 20).type == "hello"
    sender = context.socket(zmq.PUSH)
    sender.connect(f"tcp://{opts.rx}")
    sender.send_multipart(channel.sign(frames))
    node.join(DEADLINE)
    assert not node.is_alive()
    assert reason in str(raised[0].value) and "rx node received a" in str(raised[0].value)
    assert successor.poll(DEADLINE * 1000)
    report = wire.decode(tx.open(successor.recv_multipart()), 1 << 20)
    assert report.type == "error" and report["role"] == "rx" and reason in report["text"]
    sender.close(0), successor.close(0), context.term()


def test_cli_prints_one_line_on_a_peer_timeout(tmp_path):
    proc = mfcomm(
        "node",
        "channel",
        "--peer-timeout",
        "0.5",
        "--state",
        tmp_path / "ch",
        "--key",
        make_key(tmp_path),
        *[
            a
            for r, addr in zip(("tx", "channel", "rx"), free_ports(3), strict=True)
            for a in (f"--{r}-addr", f"127.0.0.1:{addr}")
        ],
        stderr=subprocess.PIPE,
    )
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [err.strip()] and "channel node: no message for 0.5 s" in err


# --- the loopback ring ---------------------------------------------------------------------------------


@pytest.mark.slow  # the pipelined test with delay 4 checks the same equality in the default run
def test_three_processes_train_exactly_as_one(tmp_path):
    out = tmp_path / "run"
    proc = mfcomm(
        "node",
        "all",
        "--iterations",
        300,
        "--checkpoint-every",
        100,
        "--out",
        out,
        "--quiet",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _stdout, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "config.toml",
        "constellation.png",
        "learning_curve.png",
        "metrics.csv",
        "model.safetensors",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["iterations"] == 300 and summary["eval_messages"] >= 100_000
    assert summary["channel_uses_spent"] == 300 * 2 * 512 * 2
    assert summary["ser"] < 0.05, summary
    metrics = same_training(out, configure(out / "config.toml"))
    assert metrics[-1]["channel_uses"] == summary["channel_uses_spent"]


@pytest.mark.parametrize("delay", [pytest.param(1, marks=pytest.mark.slow), 4])  # 4 in the default run
def test_pipelined_nodes_train_exactly_as_one_process_with_the_same_late_lossy_coarse_feedback(tmp_path, delay):
    """The tx node sends on while K steps' losses are in flight (fine-tuning acknowledged K steps late too), the
    feedback link loses 20% of its frames and quantises to 2 bits: the weights and learning curve equal those of
    ``mfcomm train`` with the same feedback_delay, bit for bit, and both lost the same frames."""
    out = tmp_path / "run"
    options = ["--feedback-delay", delay, "--feedback-loss", 0.2, "--feedback", "quantized", "--feedback-bits", 2]
    args = ["--iterations", 60, "--finetune-iterations", 20, "--batch-size", 256, "--feedback-frame", 64]
    proc = mfcomm("node", "all", *options, *args, "--out", out, "--quiet", stderr=subprocess.PIPE)
    _, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0, stderr
    cfg = configure(out / "config.toml")
    assert (cfg.delay, cfg.feedback_loss, cfg.feedback_frame) == (delay, 0.2, 64)
    metrics = same_training(out, cfg)
    lost = [r["feedback_frames_lost"] for r in metrics if "feedback_frames_lost" in r]
    assert lost == sorted(lost) and 0 < lost[-1] < 60 * 4  # 4 frames a step, about a fifth of them lost


def test_launcher_names_the_failing_node_and_leaves_no_result(tmp_path):
    (tmp_path / "bad.py").write_text(FAILING_CHANNEL)
    out = tmp_path / "run"
    proc = mfcomm(
        "node",
        "all",
        "--channel",
        f"{tmp_path / 'bad.py'}:channel",
        "--iterations",
        50,
        "--out",
        out,
        "--quiet",
        stderr=subprocess.PIPE,
    )
    _, err = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "channel node" in err and "ValueError: boom" in err
    assert not (out / "summary.json").exists()


@pytest.mark.slow  # make test-faults, make test-slow
def test_kill_a_node_mid_run_and_restart_it_resumes_from_the_checkpoint_all_three_hold(tmp_path):
    """SIGKILL the rx node in iteration 71 (checkpoints every 20): the restarted rx node and the others resume
    at 60, the newest checkpoint all three hold, so the tx node redoes 10 iterations, not 70; the weights and
    the learning curve are those of an uninterrupted run, bit for bit."""
    gated = tmp_path / "gated.py"
    gated.write_text(GATED_CHANNEL)
    cfg_file = tmp_path / "cfg.toml"
    cfg_file.write_text(
        f'channel = "{gated}:channel"\niterations = 120\ncheckpoint_every = 20\n'
        "channel_timeout = 0.0\neval_max_messages = 100000\n"
        'recipe = "paper"\n'
    )  # one receiver and one transmitter step: two channel calls an iteration
    cfg = pipelined(configure(cfg_file, trust=True))  # the nodes' feedback delay, K = 2
    held, release, key, nodes = tmp_path / "held", tmp_path / "release", make_key(tmp_path), tmp_path / "nodes"
    env = {
        **ENV,
        "MFCOMM_TEST_HOLD_AT": str(2 * 70 + 1),
        "MFCOMM_TEST_HELD": str(held),
        "MFCOMM_TEST_RELEASE": str(release),
    }  # hold the first channel call of iteration 71
    addresses = [
        a
        for r, port in zip(("tx", "channel", "rx"), free_ports(3), strict=True)
        for a in (f"--{r}-addr", f"127.0.0.1:{port}")
    ]

    def start(role):
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mfcomm.cli",
                "node",
                role,
                "--config",
                str(cfg_file),
                "--channel",
                f"{gated}:channel",
                "--key",
                str(key),
                "--state",
                str(nodes / role),
                "--peer-timeout",
                "120",
                "--quiet",
                *addresses,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs = {role: start(role) for role in ("tx", "channel", "rx")}
    errors = {}
    try:
        deadline = time.monotonic() + DEADLINE
        while not held.exists():
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs.values()), "never reached 71"
            time.sleep(0.05)
        procs["rx"].send_signal(signal.SIGKILL)
        assert procs["rx"].wait(DEADLINE) == -signal.SIGKILL
        assert sorted(int(p.name[5:]) for p in (nodes / "rx").glob("ckpt-*")) == [20, 40, 60]
        procs["rx"] = start("rx")
        release.touch()
        for role, proc in procs.items():
            _, errors[role] = proc.communicate(timeout=DEADLINE)
            assert proc.returncode == 0, f"{role}: {errors[role]}"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    results = {role: json.loads((nodes / role / "result.json").read_text()) for role in procs}
    assert results["rx"]["resumed_from"] == [60] and results["rx"]["iterations_run"] == 60
    assert results["tx"]["resumed_from"] == results["channel"]["resumed_from"] == [0, 60]
    # 61 to 72 twice: where training resumed, measured; the tx node had sent on K iterations past the held 71st
    assert results["tx"]["iterations_run"] - 120 == 10 + cfg.delay
    assert 10 <= results["channel"]["iterations_run"] - 120 <= 20  # it may have passed on iteration 71 too
    assert "rx node: resumed from iteration 60, the newest checkpoint all three nodes hold" in errors["rx"]
    metrics = same_training(assemble(cfg, nodes), cfg)
    assert [r["iteration"] for r in metrics] == list(range(10, 121, 10))
    seconds = [r["seconds"] for r in metrics]
    assert seconds == sorted(seconds)

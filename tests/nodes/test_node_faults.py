"""Three-process training under faults and attacks: message authentication (forged, replayed and tampered
messages are dropped and counted, never acted on), key files, the launcher's watch over its children and
signals, and a SIGKILL of any node at a random moment (slow)."""

import json
import os
import random
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

from mfcomm.config.fields import Config
from mfcomm.config.files import configure
from mfcomm.errors import NodeError
from mfcomm.experiment import runs
from mfcomm.nodes import rx_node, wire
from mfcomm.nodes.auth import KEY_ENV, Seal, load_key
from mfcomm.nodes.checkpoints import fingerprint
from mfcomm.nodes.launcher import free_ports, stopped_by_signals, wait
from mfcomm.nodes.link import PREVIOUS, NodeOptions
from mfcomm.nodes.node import run_node
from mfcomm.nodes.schedule import pipelined

pytestmark = pytest.mark.integration  # three-process training and its faults

ROLES = ("tx", "channel", "rx")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DEADLINE = 300  # seconds: only a guard against a hang, never a performance assertion


def make_key(directory: Path, mode: int = 0o600) -> Path:
    path = directory / "node.key"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(mode)
    return path


def options(key: Path, timeout: float = 60.0) -> NodeOptions:
    return NodeOptions(*(f"127.0.0.1:{p}" for p in free_ports(3)), peer_timeout=timeout, key_file=str(key))


def reference_weights(cfg: Config) -> dict[str, dict[str, torch.Tensor]]:
    """The weights ``mfcomm train`` reaches in one process with the same seed (on one thread, as the nodes)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run = runs.train(cfg, quiet=True, evaluate=False)
    finally:
        torch.set_num_threads(threads)
    return {"tx": run.tx.state_dict(), "rx": run.rx.state_dict()}


def assert_same_weights(nodes: Path, reference: dict[str, dict[str, torch.Tensor]]) -> None:
    for role, want in reference.items():
        got = load_file(nodes / role / "model.safetensors")
        assert got.keys() == want.keys() and all(torch.equal(got[k], v) for k, v in want.items()), role


# --- the seal and the key --------------------------------------------------------------------------------


def test_a_seal_accepts_each_authentic_message_once_and_nothing_else():
    key = secrets.token_bytes(32)
    tx, channel = Seal(key, "fp", "tx", "channel", "rx"), Seal(key, "fp", "channel", "rx", "tx")
    first, second = tx.sign([b"a"]), tx.sign([b"b", b"c"])
    assert channel.open(second) == [b"b", b"c"]
    assert channel.open(first) is None  # older counter: a replay
    tampered = [second[0], b"b", b"C"]
    restarted = Seal(key, "fp", "tx", "channel", "rx")  # a new process: a new stream, accepted
    fresh = restarted.sign([b"d"])
    assert channel.open(fresh) == [b"d"]
    others = [
        Seal(secrets.token_bytes(32), "fp", "tx", "channel", "rx"),  # another key
        Seal(key, "other", "tx", "channel", "rx"),  # another configuration (run)
        Seal(key, "fp", "rx", "tx", "channel"),
    ]  # another hop: rx -> tx replayed into the channel node
    rejected = [tampered, tx.sign([b"e"]), fresh, [b"d"], [b"\0" * 56, b"d"]] + [s.sign([b"f"]) for s in others]
    assert [channel.open(frames) for frames in rejected] == [None] * len(rejected)
    assert channel.rejected == 1 + len(rejected)  # tx.sign([b"e"]): its stream was replaced by the restart


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_key_file_open_to_others_is_refused_in_one_line(tmp_path, mode):
    key = make_key(tmp_path, mode)
    with pytest.raises(NodeError, match=f"is open to group or others \\(mode {mode:03o}\\): chmod 600 {key}$"):
        load_key(key)


def test_no_key_or_a_short_one_is_refused_saying_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = configure(overrides={"iterations": 10})
    no_key = NodeOptions(*(f"127.0.0.1:{p}" for p in free_ports(3)))
    with pytest.raises(NodeError, match=r"^no key: .*umask 077.*--key node.key$"):
        run_node("rx", cfg, no_key, tmp_path / "rx")
    assert not (tmp_path / "rx").exists()  # refused before anything is written
    short = tmp_path / "short.key"
    short.write_text("too short")
    short.chmod(0o600)
    with pytest.raises(NodeError, match="has 9 bytes, fewer than 32"):
        load_key(short)
    with pytest.raises(NodeError, match="cannot read key file"):
        load_key(tmp_path / "missing.key")
    monkeypatch.setenv(KEY_ENV, "k" * 32)
    assert load_key(None) == b"k" * 32


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_key_file_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    """A FIFO with no writer would block ``read`` for ever: the file is checked, open without blocking, first."""
    path = {"fifo": tmp_path / "node.key", "directory": tmp_path / "keys", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        path.mkdir(mode=0o700)
    outcome: list[BaseException | bytes] = []

    def load() -> None:
        try:
            outcome.append(load_key(path))
        except NodeError as err:
            outcome.append(err)

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "load_key blocked"
    assert isinstance(outcome[0], NodeError)
    assert str(outcome[0]).startswith(f"key file {path} is not a regular file: make one with (umask 077;")
    assert "\n" not in str(outcome[0])


# --- forged messages -----------------------------------------------------------------------------------


def forgeries(cfg: Config, role: str) -> list[list[bytes]]:
    """What a local process without the key sends to ``role``'s inbox: each message that would stop the ring,
    roll training back or delete checkpoints if it were acted on, unsigned, badly signed or signed with
    another key."""
    hop = (PREVIOUS[role], role)
    messages = [
        wire.encode("error", role=hop[0], text="forged"),
        wire.encode("hello", role=hop[0]),
        wire.encode("sync", epoch=7, have=[0]),
        wire.encode("resume", epoch=7, iteration=0),
    ]
    other = Seal(secrets.token_bytes(32), fingerprint(cfg), hop[0], role, "?")
    return [*messages, [os.urandom(56), *messages[0]], other.sign(messages[0])]


def test_forged_messages_are_dropped_counted_and_never_acted_on(tmp_path, monkeypatch):
    """Forged error, hello, sync and resume messages reach all three inboxes mid-run (the rx node held after
    iteration 25, checkpoints at 10 and 20): training neither stops nor rolls back, no checkpoint is lost,
    each node counts its forgeries, and the weights are those of an undisturbed run, bit for bit."""
    cfg = configure(overrides={"iterations": 40, "checkpoint_every": 10, "eval_messages": 100_000})
    want = reference_weights(cfg)  # first: it also imports what torch imports lazily, which threads must not race for
    opts = options(make_key(tmp_path))
    held, release = threading.Event(), threading.Event()
    end_iteration = rx_node.RxNode.end_iteration

    def gated(node: rx_node.RxNode, it: int) -> None:
        end_iteration(node, it)
        if it == 25:
            held.set()
            release.wait(DEADLINE)

    monkeypatch.setattr(rx_node.RxNode, "end_iteration", gated)
    results, errors = {}, []

    def run(role: str) -> None:
        try:
            results[role] = run_node(role, cfg, opts, tmp_path / role)
        except Exception as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(f"{role}: {err}")

    threads = [threading.Thread(target=run, args=(role,)) for role in ROLES]
    for thread in threads:
        thread.start()
    context = zmq.Context()
    try:
        deadline = time.monotonic() + DEADLINE
        while not held.wait(0.05):
            assert time.monotonic() < deadline and not errors, errors
        sent = {}
        for role in ROLES:
            forger = context.socket(zmq.PUSH)
            forger.connect("tcp://" + getattr(opts, role))
            for frames in forgeries(cfg, role):
                forger.send_multipart(frames)
            sent[role] = len(forgeries(cfg, role))
            forger.close(linger=5000)
        time.sleep(0.5)  # delivered while the ring waits, before training goes on
    finally:
        release.set()
        for thread in threads:
            thread.join(DEADLINE)
        context.term()
    assert not errors
    assert {role: results[role]["rejected_messages"] for role in ROLES} == sent
    assert all(results[role]["resumed_from"] == [0] and results[role]["iterations_run"] == 40 for role in ROLES)
    assert sorted(p.name for p in (tmp_path / "rx").glob("ckpt-*")) == [f"ckpt-{i:09d}" for i in (20, 30, 40)]
    assert_same_weights(tmp_path, want)


# --- the launcher --------------------------------------------------------------------------------------


def test_the_launcher_names_a_dead_node_at_once(tmp_path):
    """A node killed while the others wait for it: the launcher names it within a second, not after the
    others' time-out (when it used to blame the tx node)."""
    procs = {role: subprocess.Popen(["sleep", "60"]) for role in ROLES}
    try:
        procs["rx"].kill()
        start = time.monotonic()
        with pytest.raises(NodeError, match=r"^rx node was killed by SIGKILL$"):
            wait(procs, tmp_path)
        assert time.monotonic() - start < 1.0
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_the_launcher_names_the_node_where_the_error_arose(tmp_path):
    """The rx node exits first, stopped by the channel node's error; the launcher waits for the channel node
    and names it, with its reason."""

    def node(role: str, delay: float, error: str) -> subprocess.Popen:
        script = f"sleep {delay}; echo 'mfcomm node: error: {error}' > {tmp_path / role}.log; exit 2"
        return subprocess.Popen(["sh", "-c", script])

    procs = {
        "tx": subprocess.Popen(["sleep", "60"]),
        "rx": node("rx", 0, "channel node failed: boom"),
        "channel": node("channel", 0.5, "ValueError: boom"),
    }
    try:
        with pytest.raises(NodeError, match=r"^channel node: ValueError: boom$"):
            wait(procs, tmp_path)
    finally:
        for proc in procs.values():
            proc.kill()
            proc.wait()


def test_a_signal_in_the_launcher_is_a_one_line_error_and_the_handlers_come_back(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    # the signal arrives during the sleep: both statements belong in the block
    with (  # noqa: PT012
        pytest.raises(NodeError, match=f"^stopped by SIGTERM; .* checkpoints in {tmp_path}$"),
        stopped_by_signals(tmp_path),
    ):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
    assert signal.getsignal(signal.SIGTERM) is before


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow  # make test-faults, make test-slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the nodes through /proc")
def test_sigterm_to_node_all_stops_all_three_nodes(tmp_path):
    """SIGTERM to ``mfcomm node all`` while its nodes train: all three stop, one line, a non-zero exit, and
    OUT holds only nodes/ (checkpoints and logs), nothing that looks like a result."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mfcomm.cli",
            "node",
            "all",
            "--iterations",
            "100000",
            "--checkpoint-every",
            "10",
            "--out",
            str(out),
            "--quiet",
        ],
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + DEADLINE
        while not list((out / "nodes" / "tx").glob("ckpt-*")):  # training is under way
            assert time.monotonic() < deadline and proc.poll() is None, "never trained"
            time.sleep(0.05)
        nodes = children(proc.pid)
        assert len(nodes) == 3
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert len(err.strip().splitlines()) == 1 and "stopped by SIGTERM" in err, err
    assert not any(alive(pid) for pid in nodes)
    assert [p.name for p in out.iterdir()] == ["nodes"]


# --- SIGKILL at a random moment ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("victim", ROLES)
def test_kill_any_node_at_a_random_moment_redoes_at_most_checkpoint_every(tmp_path, victim):
    """SIGKILL ``victim`` at a random moment of training and start it again: every node resumes from the same
    checkpoint, each survivor redoes at most ``checkpoint_every`` iterations and the ``feedback_delay`` (K) the tx
    node sends ahead of the losses (measured: the iterations it ran, less the run's), and the weights are those of
    an uninterrupted run with the same K, bit for bit: nothing in flight lost, nothing trained twice."""
    total, every = 3000, 20
    cfg = pipelined(configure(overrides={"iterations": total, "checkpoint_every": every}))
    key, nodes = make_key(tmp_path), tmp_path / "nodes"
    addresses = [
        a for role, port in zip(ROLES, free_ports(3), strict=True) for a in (f"--{role}-addr", f"127.0.0.1:{port}")
    ]

    def start(role: str) -> subprocess.Popen:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mfcomm.cli",
                "node",
                role,
                "--iterations",
                str(total),
                "--checkpoint-every",
                str(every),
                "--key",
                str(key),
                "--state",
                str(nodes / role),
                "--peer-timeout",
                "120",
                "--quiet",
                *addresses,
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs = {role: start(role) for role in ROLES}
    try:
        deadline = time.monotonic() + DEADLINE
        while not list((nodes / "tx").glob("ckpt-*")):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs.values()), "never trained"
            time.sleep(0.05)
        delay = random.uniform(0.0, 2.0)
        time.sleep(delay)
        procs[victim].kill()
        procs[victim].wait()
        procs[victim] = start(victim)
        for role, proc in procs.items():
            _, err = proc.communicate(timeout=DEADLINE)
            assert proc.returncode == 0, f"{role} (killed after {delay:.2f} s): {err}"
    finally:
        for proc in procs.values():
            proc.kill()
    results = {role: json.loads((nodes / role / "result.json").read_text()) for role in ROLES}
    resumed = results[victim]["resumed_from"][-1]
    assert resumed > 0 and all(r["resumed_from"][-1] == resumed for r in results.values()), results
    assert results[victim]["iterations_run"] == total - resumed
    for role in set(ROLES) - {victim}:
        assert 0 <= results[role]["iterations_run"] - total <= every + cfg.delay, (role, results[role])
    assert_same_weights(nodes, reference_weights(cfg))

"""``mfcomm node all``: the three nodes as child processes on this machine, then a run directory like
``mfcomm train``'s, assembled from their results.

It keeps the nodes' checkpoints and logs in ``OUT/nodes/`` while it runs, and hands the children a fresh
secret for this run in their environment (``$MFCOMM_NODE_KEY``, :mod:`mfcomm.nodes.auth`): never on disk or
on a command line. It watches all three: the moment one fails, the others are stopped and the error names
the node where the failure began (a node killed by a signal, or the node whose own error stopped the ring).
SIGINT and SIGTERM stop all three too. ``OUT`` then holds only ``nodes/``, nothing that looks like a result,
and the same command resumes from the checkpoints. On success ``OUT/nodes/`` is removed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from safetensors.torch import load_file

from mfcomm.config.fields import Config
from mfcomm.config.files import to_toml
from mfcomm.errors import NodeError
from mfcomm.evaluation.reference import measure_baseline
from mfcomm.evaluation.ser import clopper_pearson
from mfcomm.experiment import runs
from mfcomm.experiment.run_directory import write_text
from mfcomm.learning.seeding import seeded_receiver, seeded_transmitter
from mfcomm.nodes.auth import KEY_ENV
from mfcomm.nodes.checkpoints import MODEL, RESULT, fingerprint
from mfcomm.nodes.link import NEXT
from mfcomm.nodes.node import ERROR_PREFIX, check_supported
from mfcomm.nodes.schedule import pipelined

ROLES = tuple(NEXT)
NODES = "nodes"
"""The folder of a run directory where ``node all`` keeps its nodes' checkpoints and logs while it runs."""
SETTLE = 2.0
"""Seconds to wait, after a node failed because a peer told it to, for the node where the error arose."""


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 right now."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def run_all(
    cfg: Config, out: str | Path, peer_timeout: float = 30.0, max_bytes: int = 64 << 20, quiet: bool = False
) -> runs.Run:
    """Train with three node processes on loopback, write ``out`` like ``mfcomm train``, return the run."""
    check_supported(cfg)
    cfg, out = pipelined(cfg), Path(out)
    nodes = out / NODES
    nodes.mkdir(parents=True, exist_ok=True)
    config_file = nodes / "config.toml"
    write_text(config_file, to_toml(cfg))
    ports = dict(zip(ROLES, free_ports(len(ROLES)), strict=True))
    # --channel: the children run the channel this command was given (a config file's code needs trust)
    options = [
        "--config",
        str(config_file),
        f"--channel={cfg.channel}",
        "--peer-timeout",
        str(peer_timeout),
        "--max-message-mb",
        str(max_bytes / 2**20),
        "--quiet",
        *[arg for role in ROLES for arg in (f"--{role}-addr", f"127.0.0.1:{ports[role]}")],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", KEY_ENV: secrets.token_hex(32)}
    with stopped_by_signals(nodes):
        procs: dict[str, subprocess.Popen] = {}
        try:
            for role in ROLES:
                (nodes / role / RESULT).unlink(missing_ok=True)
                with open(nodes / f"{role}.log", "w") as log:
                    procs[role] = subprocess.Popen(
                        [sys.executable, "-m", "mfcomm.cli", "node", role, "--state", str(nodes / role), *options],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
            if not quiet:
                print(
                    f"mfcomm node all: tx, channel and rx nodes on 127.0.0.1 ports "
                    f"{', '.join(map(str, ports.values()))}; logs in {nodes}",
                    file=sys.stderr,
                )
            wait(procs, nodes)
        finally:
            stop(procs)
        run = assemble(cfg, nodes)
        run.baseline = measure_baseline(cfg, quiet=quiet)  # measured here as mfcomm train does, on a local channel
        runs.save(run, out)
    shutil.rmtree(nodes)
    return run


@contextmanager
def stopped_by_signals(nodes: Path) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise a one-line NodeError, so that the block's clean-up stops the
    nodes; a second signal is ignored until the block is left, so that the clean-up always finishes."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may take signals
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)

    def stop_here(signum: int, _frame: object) -> None:
        for s in signals:
            signal.signal(s, signal.SIG_IGN)
        raise NodeError(
            f"stopped by {signal.Signals(signum).name}; the three nodes were stopped, and the same "
            f"command resumes from their checkpoints in {nodes}"
        )

    previous = {s: signal.signal(s, stop_here) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def stop(procs: dict[str, subprocess.Popen]) -> None:
    """Terminate the nodes still running and reap them all (SIGKILL for one that ignores SIGTERM for 10 s)."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait(procs: dict[str, subprocess.Popen], nodes: Path) -> None:
    """Until all nodes exit 0; else, as soon as it is known, a NodeError naming the node where the failure began.

    Every node is polled every 50 ms. A node that failed only because a peer told it to (``X node failed:``)
    is named only if the node where the error arose has not exited within ``SETTLE`` seconds."""
    failed: list[str] = []  # in the order their exits were seen
    settle = float("inf")
    while True:
        for role, proc in procs.items():
            if proc.poll() not in (None, 0) and role not in failed:
                failed.append(role)
        if not failed and all(p.returncode == 0 for p in procs.values()):
            return
        if failed:
            reasons = [reason(role, procs[role], nodes) for role in failed]
            origins = [r for r in reasons if " node failed: " not in r]
            settle = min(settle, time.monotonic() + SETTLE)
            if origins or time.monotonic() > settle or all(p.returncode is not None for p in procs.values()):
                raise NodeError((origins or reasons)[0])
        time.sleep(0.05)


def reason(role: str, proc: subprocess.Popen, nodes: Path) -> str:
    """One line: why node ``role`` exited with a failure (its own error, a peer's, or a signal)."""
    if proc.returncode < 0:
        return f"{role} node was killed by {signal.Signals(-proc.returncode).name}"
    lines = [
        line[len(ERROR_PREFIX) :]
        for line in (nodes / f"{role}.log").read_text().splitlines()
        if line.startswith(ERROR_PREFIX)
    ]
    text = lines[-1] if lines else f"exit status {proc.returncode} (see {nodes / f'{role}.log'})"
    return text if text.startswith(f"{role} node") else f"{role} node: {text}"


def assemble(cfg: Config, nodes: Path) -> runs.Run:
    """The run from the nodes' results: weights, merged learning curve, cost and SER."""
    results = {}
    for role in ROLES:
        result = json.loads((nodes / role / RESULT).read_text())
        if result.get("fingerprint") != fingerprint(cfg):
            raise NodeError(f"{nodes / role / RESULT} belongs to another configuration")
        results[role] = result
    counters = results["channel"].get("counters", {})  # a radio's, over the channel node's training steps
    tx, rx = seeded_transmitter(cfg), seeded_receiver(cfg)
    tx.load_state_dict(load_file(nodes / "tx" / MODEL))
    rx.load_state_dict(load_file(nodes / "rx" / MODEL))
    run = runs.Run(
        cfg,
        tx,
        rx,
        metrics=merge_metrics(results["tx"]["metrics"], results["rx"]["metrics"]),
        channel_uses_spent=results["tx"]["channel_uses_spent"] + int(counters.get("symbols_resent", 0)),
        channel_counters=counters,
        train_seconds=results["tx"]["train_seconds"],
        threads=cfg.threads or 1,  # as each node ran (mfcomm.nodes.node.run_node)
    )
    run.ser = clopper_pearson(results["rx"]["eval_errors"], results["rx"]["eval_messages"])
    return run


COLUMNS = (
    "iteration",
    "channel_uses",
    "seconds",
    "rx_loss",
    "tx_loss",
    "sigma2",
    "feedback_bits",
    "feedback_frames_lost",
)
"""The columns of ``metrics.csv``, in the order ``mfcomm train`` writes them."""


def merge_metrics(tx_rows: list[dict], rx_rows: list[dict]) -> list[dict[str, float]]:
    """The tx and rx nodes' rows, joined on iteration, in the column order of ``mfcomm train``."""
    by_iteration = {row["iteration"]: row for row in rx_rows}
    merged = []
    for row in tx_rows:
        both = {**by_iteration.get(row["iteration"], {}), **row}
        merged.append({k: both[k] for k in COLUMNS if k in both})
    return merged

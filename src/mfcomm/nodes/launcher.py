"""``mfcomm node all``: the three nodes as child processes on this machine, then a run directory like
``mfcomm train``'s, assembled from their results.

It keeps the nodes' checkpoints and logs in ``OUT/nodes/`` while it runs. If a node fails, the
others are stopped and the error names the node; ``OUT`` then holds only ``nodes/``, nothing that looks like
a result, and the same command resumes from the checkpoints. On success ``OUT/nodes/`` is removed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from mfcomm import config as config_module
from mfcomm import runs
from mfcomm.config import Config
from mfcomm.errors import NodeError
from mfcomm.evaluation import clopper_pearson
from mfcomm.nodes.checkpoints import MODEL, RESULT, fingerprint
from mfcomm.nodes.link import NEXT
from mfcomm.nodes.node import ERROR_PREFIX, check_supported
from mfcomm.nodes.streams import seeded_receiver, seeded_transmitter
from mfcomm.reference import measure_baseline

ROLES = tuple(NEXT)


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


def run_all(cfg: Config, out: str | Path, peer_timeout: float = 30.0, max_bytes: int = 64 << 20,
            quiet: bool = False) -> runs.Run:
    """Train with three node processes on loopback, write ``out`` like ``mfcomm train``, return the run."""
    check_supported(cfg)
    out = Path(out)
    nodes = out / "nodes"
    nodes.mkdir(parents=True, exist_ok=True)
    config_file = nodes / "config.toml"
    runs.write_text(config_file, config_module.to_toml(cfg))
    ports = dict(zip(ROLES, free_ports(len(ROLES))))
    addresses = [arg for role in ROLES for arg in (f"--{role}-addr", f"127.0.0.1:{ports[role]}")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = {}
    for role in ROLES:
        (nodes / role / RESULT).unlink(missing_ok=True)
        command = [sys.executable, "-m", "mfcomm.cli", "node", role, "--config", str(config_file), "--state",
                   str(nodes / role), *addresses, "--peer-timeout", str(peer_timeout),
                   "--max-message-mb", str(max_bytes / 2**20), "--quiet"]
        with open(nodes / f"{role}.log", "w") as log:
            procs[role] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if not quiet:
        print(f"mfcomm node all: tx, channel and rx nodes on 127.0.0.1 ports {', '.join(map(str, ports.values()))}; "
              f"logs in {nodes}", file=sys.stderr)
    try:
        wait(procs, nodes)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait()
    run = assemble(cfg, nodes)
    run.baseline = measure_baseline(cfg, quiet=quiet)  # measured here as mfcomm train does, on a local channel
    runs.save(run, out)
    shutil.rmtree(nodes)
    return run


def wait(procs: dict[str, subprocess.Popen], nodes: Path) -> None:
    """Until all nodes exit 0; else a NodeError naming the node that failed first, and why."""
    while any(p.poll() is None for p in procs.values()):
        failed = [role for role, p in procs.items() if p.returncode not in (None, 0)]
        if failed:
            deadline = time.monotonic() + 2.0  # the others hear of it over the ring and stop
            while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
                time.sleep(0.05)
            raise NodeError(failure(procs, nodes))
        time.sleep(0.05)
    if any(p.returncode for p in procs.values()):
        raise NodeError(failure(procs, nodes))


def failure(procs: dict[str, subprocess.Popen], nodes: Path) -> str:
    """One line: which node failed and why (the node where the error arose, not those it stopped)."""
    reasons = {}
    for role, proc in procs.items():
        if proc.returncode is None or proc.returncode == 0:
            continue
        if proc.returncode < 0:
            reasons[role] = f"{role} node was killed by {signal.Signals(-proc.returncode).name}"
            continue
        lines = [line[len(ERROR_PREFIX):] for line in (nodes / f"{role}.log").read_text().splitlines()
                 if line.startswith(ERROR_PREFIX)]
        text = lines[-1] if lines else f"exit status {proc.returncode} (see {nodes / f'{role}.log'})"
        reasons[role] = text if text.startswith(f"{role} node") else f"{role} node: {text}"
    origins = [r for r in reasons.values() if " node failed: " not in r] or list(reasons.values())
    return origins[0]


def assemble(cfg: Config, nodes: Path) -> runs.Run:
    """The run from the nodes' results: weights, merged learning curve, cost and SER."""
    results = {}
    for role in ROLES:
        result = json.loads((nodes / role / RESULT).read_text())
        if result.get("fingerprint") != fingerprint(cfg):
            raise NodeError(f"{nodes / role / RESULT} belongs to another configuration")
        results[role] = result
    tx, rx = seeded_transmitter(cfg), seeded_receiver(cfg)
    tx.load_state_dict(load_file(nodes / "tx" / MODEL))
    rx.load_state_dict(load_file(nodes / "rx" / MODEL))
    run = runs.Run(cfg, tx, rx, merge_metrics(results["tx"]["metrics"], results["rx"]["metrics"]),
                   results["tx"]["channel_uses_spent"], results["tx"]["train_seconds"])
    run.ser = clopper_pearson(results["rx"]["eval_errors"], results["rx"]["eval_messages"])
    return run


def merge_metrics(tx_rows: list[dict], rx_rows: list[dict]) -> list[dict[str, float]]:
    """The tx and rx nodes' rows, joined on iteration, in the column order of ``mfcomm train``."""
    by_iteration = {row["iteration"]: row for row in rx_rows}
    merged = []
    for row in tx_rows:
        both = {**by_iteration.get(row["iteration"], {}), **row}
        merged.append({k: both[k] for k in ("iteration", "channel_uses", "seconds", "rx_loss", "tx_loss", "sigma2",
                                            "feedback_bits") if k in both})
    return merged

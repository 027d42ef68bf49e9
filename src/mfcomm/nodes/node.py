"""``mfcomm node tx|channel|rx``: one node in this process, until training is done or fails.

Kept free of plotting and statistics imports: a node starts in about the time torch takes to load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from mfcomm.config.fields import Config
from mfcomm.errors import ConfigError, MfcommError
from mfcomm.nodes import channel_node, rx_node, tx_node
from mfcomm.nodes.checkpoints import RESULT, Store, fingerprint
from mfcomm.nodes.link import Link, NodeOptions, PeerFailed

ERROR_PREFIX = "mfcomm node: error: "
"""How the command line prints a node's error (the launcher looks for it in the node's log)."""


MAX_NODE_DELAY = 256
"""The deepest pipeline the nodes run: K + 1 data messages are in flight, below ZeroMQ's queue of 1000."""


def check_supported(cfg: Config) -> None:
    """What three-process training does not do (yet), as one-line errors."""
    if cfg.method != "model-free":
        raise ConfigError("node training is model-free only (the tx node never sees the channel)")
    if cfg.ser_every:
        raise ConfigError("node training does not probe the SER during training: set ser_every = 0")
    if cfg.device != "cpu":
        raise ConfigError("node training runs on the CPU (--device cpu)")
    if cfg.delay > MAX_NODE_DELAY:  # each step in flight is a message queued on the ring (ZeroMQ queues 1000)
        raise ConfigError(f"node training pipelines at most {MAX_NODE_DELAY} steps: --feedback-delay {cfg.delay}")


def run_node(role: str, cfg: Config, options: NodeOptions, state: str | Path, quiet: bool = True) -> dict[str, Any]:
    """Run node ``role`` until training is done; returns its result. On an error of its own, the node tells
    the next one before it stops, so the ring stops within moments instead of at the time-out."""
    check_supported(cfg)
    torch.set_num_threads(cfg.threads or 1)  # three processes share the machine's cores
    link = Link(role, options.validate(), fingerprint(cfg))  # no key: refused before anything is written
    try:
        store = Store(state, cfg)
        if role == "tx":
            return tx_node.run(cfg, link, store, quiet)
        if role == "rx":
            rx_node.run(cfg, link, store)
        else:
            channel_node.run(cfg, link, store)
        return json.loads((store.directory / RESULT).read_text())
    except PeerFailed:
        raise
    except MfcommError as err:
        link.fail(str(err))
        raise
    except Exception as err:
        link.fail(f"{type(err).__name__}: {err}")
        raise
    finally:
        link.close()


def node_state(role: str, state: str | None) -> Path:
    """A node's state directory: ``--state``, or ``runs/nodes/ROLE``."""
    return Path(state) if state else Path("runs") / "nodes" / role

"""``mfcomm node ROLE``: model-free training with the transmitter, the channel and the receiver in three
processes over ZeroMQ (see docs/distributed.md)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mfcomm.cli.options import config_overrides, out_dir, training_options
from mfcomm.cli.train import print_baseline
from mfcomm.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``node`` command: the options of ``train``, and where the nodes are."""
    p = sub.add_parser(
        "node",
        help="three-process training: the tx, channel or rx node, or all three",
        description="Model-free training with the transmitter, the channel and the receiver in "
        "separate processes, connected over ZeroMQ (tx -> channel -> rx -> tx). Start each role with "
        "the same configuration, or 'all' for three processes on this machine.",
    )
    p.add_argument("role", choices=["tx", "channel", "rx", "all"])
    training_options(p)
    g = p.add_argument_group("nodes")
    g.add_argument("--tx-addr", default="127.0.0.1:5555", help="HOST:PORT of the tx node (default 127.0.0.1:5555)")
    g.add_argument("--channel-addr", default="127.0.0.1:5556", help="HOST:PORT of the channel node")
    g.add_argument("--rx-addr", default="127.0.0.1:5557", help="HOST:PORT of the rx node")
    g.add_argument("--bind", help="interface this node listens on (default: the host of its own address)")
    g.add_argument(
        "--state",
        help="this node's checkpoints and results (default runs/nodes/ROLE); a restarted node resumes from it",
    )
    g.add_argument(
        "--peer-timeout",
        type=float,
        default=30.0,
        help="seconds of silence from the peers before stopping with an error (default 30)",
    )
    g.add_argument("--max-message-mb", type=float, default=64.0, help="largest message accepted (default 64 MiB)")
    g.add_argument(
        "--key",
        metavar="FILE",
        help="the secret the three nodes share, in a file only its owner can "
        "read (default: $MFCOMM_NODE_KEY); 'all' makes a fresh one for each run",
    )
    p.add_argument(
        "--out",
        type=out_dir,
        help="with 'all': the run directory, as mfcomm train writes it (default runs/<timestamp>)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    """Run one node until training ends, or (``all``) the three of them into one run directory."""
    from mfcomm.config.checks import check_number
    from mfcomm.config.fields import FIELDS
    from mfcomm.config.files import configure
    from mfcomm.config.option import TIMEOUT_MAX
    from mfcomm.nodes import node
    from mfcomm.nodes.link import NodeOptions
    from mfcomm.nodes.schedule import pipelined

    cfg = configure(args.config, config_overrides(args, FIELDS), trust=args.trust_config)
    cfg = pipelined(cfg)  # the nodes pipeline: K steps' losses in flight while the tx node sends on
    if cfg.task != "symbols":
        raise ConfigError("the nodes train the symbols task: train the bits task with mfcomm train --task bits")
    if cfg.candidates > 1 or cfg.stop_early:
        raise ConfigError(
            "the nodes train one system to the iteration cap: --candidates and --stop-early are for mfcomm train"
        )
    check_number("--peer-timeout", args.peer_timeout, 0.0, TIMEOUT_MAX, "(]")
    check_number("--max-message-mb", args.max_message_mb, 4096 / 2**20, 4096.0)
    options = NodeOptions(
        args.tx_addr,
        args.channel_addr,
        args.rx_addr,
        args.bind,
        args.peer_timeout,
        int(args.max_message_mb * 2**20),
        key_file=args.key,
    ).validate()
    if args.role == "all":
        from mfcomm.experiment import run_directory
        from mfcomm.experiment.run_lock import owned
        from mfcomm.experiment.runs import summary
        from mfcomm.nodes import launcher
        from mfcomm.system.build import bytes_needed

        out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
        with owned(out):  # checked as mfcomm train checks --out; its nodes' checkpoints are what it resumes
            run_directory.check_out(out, "summary.json", resumable=launcher.NODES)
            run_directory.check_space(out, bytes_needed(cfg))
            s = summary(launcher.run_all(cfg, out, options.peer_timeout, options.max_bytes, args.quiet))
        print(
            f"three-process {cfg.method} on {cfg.channel}: SER {s['ser']:.3e} [{s['ser_ci'][0]:.2e}, "
            f"{s['ser_ci'][1]:.2e}] over {s['eval_messages']} messages; {s['channel_uses_spent']} channel uses, "
            f"{s['train_seconds']:.1f} s; wrote {out}"
        )
        print_baseline(s)
        return 0
    state = node.node_state(args.role, args.state)
    result = node.run_node(args.role, cfg, options, state, args.quiet)
    ser = f"; SER {result['ser']:.3e} over {result['eval_messages']} messages" if result.get("ser") is not None else ""
    print(f"{args.role} node: done{ser}; wrote {state}")
    return 0

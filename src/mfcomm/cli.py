"""The ``mfcomm`` command: ``train``, ``evaluate``, ``demo``, ``gradcheck``, ``node``, ``bitwise``, ``sweep``
(see README.md, "Command line").

Every user error ends in one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from mfcomm import cli_bitwise, cli_sweep
from mfcomm.errors import ConfigError, MfcommError

if TYPE_CHECKING:
    from mfcomm.config import Config
    from mfcomm.tensorboard_log import TensorBoardLog

EXIT_USAGE = 2


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a transmitter and receiver, then measure the SER",
        description="Train over a built-in channel, an impairment chain such as "
        "'rapp(p=2,sat=1.2) | awgn | adc(bits=3)', or a black box PATH.py:FUNC.",
    )
    _training_options(p)
    p.add_argument("--out", help="output directory (default runs/<timestamp>); an existing run there is refused")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out (all its files)")
    p.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the interrupted run in DIR from its checkpoint, with the configuration it was started with",
    )
    p.add_argument(
        "--no-keep-best",
        dest="keep_best",
        action="store_false",
        default=None,
        help="return the trained system even when the classical one measures better",
    )
    p.add_argument(
        "--no-baseline",
        dest="compare_baseline",
        action="store_false",
        default=None,
        help="do not measure the same-rate classical system on the same channel after training",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write TensorBoard event files into "
        "OUT/tensorboard: losses, SER, sigma2, channel uses, and the constellation every 500 iterations",
    )


def _training_options(p: argparse.ArgumentParser) -> None:
    """The configuration options of ``train``, shared with ``node``."""
    p.add_argument("--config", help="TOML file of configuration values (options below override it)")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that the "
        "--config file names; without it, such a channel must be given with --channel",
    )
    p.add_argument("--method", choices=["model-free", "model-based"])
    p.add_argument(
        "--recipe",
        choices=["default", "paper"],
        help="default: the best measured recipe; paper: the "
        "paper's Algorithm 1 as published (options given explicitly override either)",
    )
    p.add_argument(
        "--channel",
        help="awgn, rbf, a chain of stages separated by | (awgn, rbf, adc, rapp, saleh, "
        "phase_noise, cfo, iq, phase; e.g. 'rapp(p=2) | awgn | adc(bits=3)'), or PATH.py:FUNC "
        "(a function on complex64 arrays (batch, N))",
    )
    p.add_argument("--messages", type=int, help="M, number of messages (default 16)")
    p.add_argument("--channel-uses", type=int, help="n, channel uses per message (default 2)")
    snr = p.add_mutually_exclusive_group()
    snr.add_argument("--snr-db", type=float, help="Es/N0 in dB (default 10)")
    snr.add_argument("--ebno-db", type=float, help="Eb/N0 in dB")
    p.add_argument("--signalling", choices=["complex", "real"])
    p.add_argument("--normalization", choices=["average", "per-message"])
    p.add_argument("--iterations", type=int, help="outer training iterations (default 2000)")
    p.add_argument("--finetune-iterations", type=int, help="receiver-only steps after model-free training")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--sigma2", type=float, help="perturbation variance, 0 < sigma2 < 1 (model-free)")
    p.add_argument("--sigma2-final", type=float, help="decay sigma2 geometrically to this value")
    p.add_argument("--tx-batch-size", type=int, help="messages per transmitter step (default --batch-size)")
    p.add_argument("--perturbations", type=int, help="perturbations per message in a transmitter step")
    p.add_argument("--antithetic", action="store_true", default=None, help="antithetic perturbation pairs")
    p.add_argument(
        "--loss-baseline",
        choices=["none", "batch", "message", "running"],
        help="baseline subtracted from fed-back losses (variance reduction)",
    )
    p.add_argument("--feedback", choices=["perfect", "noisy", "quantized"], help="feedback link for the losses")
    p.add_argument("--feedback-bits", type=int, help="bits per loss with --feedback quantized")
    p.add_argument("--feedback-noise", type=float, help="noise std per loss with --feedback noisy")
    p.add_argument("--rx-steps", type=int, help="receiver steps per model-free iteration")
    p.add_argument(
        "--rx-on-tx-batch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the receiver also learns from the transmitter steps' transmissions (default on)",
    )
    p.add_argument("--tx-steps", type=int, help="transmitter steps per model-free iteration")
    p.add_argument("--rx-lr", type=float)
    p.add_argument("--tx-lr", type=float)
    p.add_argument("--equalizer", choices=["auto", "on", "off"])
    p.add_argument(
        "--init",
        help="where training starts: random, classical (the same-rate classical codebook) or "
        "RUN_DIR (an earlier run with the same M and n: transmitter and receiver start from its weights)",
    )
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning-rate schedule over the iterations")
    p.add_argument(
        "--tx-warmup",
        type=int,
        help="iterations over which the transmitter's learning rate ramps up from 0 (default 200)",
    )
    p.add_argument("--lr-final-ratio", type=float, help="final over initial learning rate with --lr-schedule cosine")
    p.add_argument(
        "--candidates",
        type=int,
        help="candidate systems trained briefly before the main training, "
        "which goes on from the best on held-out messages (1: none)",
    )
    p.add_argument("--candidate-iterations", type=int, help="iterations each candidate trains before the selection")
    p.add_argument(
        "--patience",
        type=int,
        help="iterations without a 1%% better held-out loss after which training "
        "counts as converged (default 1000; 0: not watched)",
    )
    p.add_argument(
        "--stop-early",
        action="store_true",
        default=None,
        help="end training once it has converged (--iterations stays the cap)",
    )
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--channel-timeout", type=float, help="seconds a black-box channel call may take (0: no limit)")
    p.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (0: none)")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="SER versus SNR of a trained run, with baselines",
        description="Writes DIR/ser.csv and DIR/ser.png.",
    )
    p.add_argument("dir", help="a run directory written by mfcomm train")
    snr = p.add_mutually_exclusive_group()
    snr.add_argument("--snr-db", help="Es/N0 sweep A:B:STEP in dB (default: training point -10 to +6 dB)")
    snr.add_argument("--ebno-db", help="Eb/N0 sweep A:B:STEP in dB")
    p.add_argument("--channel", help="evaluate on this channel instead of the training one")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that "
        "DIR/config.toml names; without it, such a channel must be given with --channel",
    )
    p.add_argument("--target-errors", type=int, default=1000, help="errors to collect per point (default 1000)")
    p.add_argument("--max-messages", type=int, default=10_000_000, help="message cap per point (default 1e7)")
    p.add_argument("--quiet", action="store_true")


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the paper's comparison: model-free vs model-based on AWGN and RBF",
        description="Trains, evaluates and writes a Markdown report with figures.",
    )
    p.add_argument("--out", default="runs/demo", help="report directory (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="a much shorter run, for smoke tests")
    p.add_argument("--quiet", action="store_true")


def _gradcheck_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="the model-free gradient estimate against the true gradient",
        description="Bias, variance, cosine similarity and samples needed over sigma2 and batch "
        "sizes, on a differentiable channel. Writes DIR/gradcheck.csv and DIR/gradcheck.png.",
    )
    p.add_argument("--config", help="TOML file (system and channel settings)")
    p.add_argument("--channel", choices=["awgn", "rbf"])
    p.add_argument("--messages", type=int)
    p.add_argument("--channel-uses", type=int)
    p.add_argument("--snr-db", type=float)
    p.add_argument("--sigma2", default="0.5,0.2,0.1,0.05,0.02,0.01", help="comma-separated sigma2 values")
    p.add_argument("--batch-sizes", default="64,512", help="comma-separated transmissions per estimate")
    p.add_argument(
        "--variants",
        default="plain,batch,message,antithetic",
        help="comma-separated: plain, batch, running, message, antithetic, antithetic-message",
    )
    p.add_argument("--trials", type=int, default=200, help="independent estimates per point (default 200)")
    p.add_argument(
        "--pretrain-iterations",
        type=int,
        default=300,
        help="model-based iterations before measuring, for a typical operating point",
    )
    p.add_argument("--target-cosine", type=float, default=0.9)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", default="runs/gradcheck")
    p.add_argument("--quiet", action="store_true")


def _node_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "node",
        help="three-process training: the tx, channel or rx node, or all three",
        description="Model-free training with the transmitter, the channel and the receiver in "
        "separate processes, connected over ZeroMQ (tx -> channel -> rx -> tx). Start each role with "
        "the same configuration, or 'all' for three processes on this machine.",
    )
    p.add_argument("role", choices=["tx", "channel", "rx", "all"])
    _training_options(p)
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
    p.add_argument("--out", help="with 'all': the run directory, as mfcomm train writes it (default runs/<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def cmd_node(args: argparse.Namespace) -> int:
    from mfcomm import config
    from mfcomm.nodes import node
    from mfcomm.nodes.link import NodeOptions

    cfg = config.resolve(
        args.config, {k: v for k, v in vars(args).items() if k in config.FIELDS}, trust=args.trust_config
    )
    if cfg.candidates > 1 or cfg.stop_early:
        raise ConfigError(
            "the nodes train one system to the iteration cap: --candidates and --stop-early are for mfcomm train"
        )
    config.check_number("--peer-timeout", args.peer_timeout, 0.0, config.TIMEOUT_MAX, "(]")
    config.check_number("--max-message-mb", args.max_message_mb, 4096 / 2**20, 4096.0)
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
        from mfcomm.nodes import launcher

        out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
        s = launcher.run_all(cfg, out, options.peer_timeout, options.max_bytes, args.quiet).summary()
        print(
            f"three-process {cfg.method} on {cfg.channel}: SER {s['ser']:.3e} [{s['ser_ci'][0]:.2e}, "
            f"{s['ser_ci'][1]:.2e}] over {s['eval_messages']} messages; {s['channel_uses_spent']} channel uses, "
            f"{s['train_seconds']:.1f} s; wrote {out}"
        )
        _print_baseline(s)
        return 0
    state = node.node_state(args.role, args.state)
    result = node.run_node(args.role, cfg, options, state, args.quiet)
    ser = f"; SER {result['ser']:.3e} over {result['eval_messages']} messages" if result.get("ser") is not None else ""
    print(f"{args.role} node: done{ser}; wrote {state}")
    return 0


def _floats(text: str, name: str) -> list[float]:

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, not {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: no values given")
    return values


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from mfcomm import config, gradcheck

    cfg = config.resolve(
        args.config, {k: getattr(args, k) for k in ("channel", "messages", "channel_uses", "snr_db", "seed")}
    )
    sigma2s = _floats(args.sigma2, "--sigma2")
    sizes = _floats(args.batch_sizes, "--batch-sizes")
    for value in sigma2s:
        config.check_number("--sigma2 value", value, 0.0, 1.0, "()")
    for value in sizes:
        config.check_number("--batch-sizes value", value, 8, 2**20)
    config.check_number("--trials", args.trials, 10, 10**6)
    config.check_number("--pretrain-iterations", args.pretrain_iterations, 0, 10**6)
    config.check_number("--target-cosine", args.target_cosine, 0.0, 1.0, "()")
    batch_sizes = [int(v) for v in sizes]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    out = Path(args.out)
    rows = gradcheck.run_gradcheck(
        cfg, out, sigma2s, batch_sizes, variants, args.trials, args.pretrain_iterations, args.target_cosine, args.quiet
    )
    for r in rows:
        print(
            f"{r['variant']:>18} sigma2 {r['sigma2']:<6g} S {r['batch']:>5}  bias {r['bias']:.3e} "
            f"(+-{r['bias_noise']:.1e})  cosine {r['cosine']:.3f}  S for cos {args.target_cosine}: "
            f"{r['samples_for_cosine']:.3g}"
        )
    print(f"wrote {out / 'gradcheck.csv'} and {out / 'gradcheck.png'}")
    return 0


TRAIN_KEYS = [
    "method",
    "channel",
    "messages",
    "channel_uses",
    "snr_db",
    "ebno_db",
    "signalling",
    "normalization",
    "iterations",
    "finetune_iterations",
    "batch_size",
    "sigma2",
    "rx_steps",
    "tx_steps",
    "rx_lr",
    "tx_lr",
    "equalizer",
    "seed",
    "device",
    "sigma2_final",
    "tx_batch_size",
    "perturbations",
    "antithetic",
    "loss_baseline",
    "feedback",
    "feedback_bits",
    "feedback_noise",
    "rx_on_tx_batch",
    "channel_timeout",
    "checkpoint_every",
    "init",
    "lr_schedule",
    "lr_final_ratio",
    "patience",
    "compare_baseline",
    "recipe",
    "candidates",
    "candidate_iterations",
    "keep_best",
    "stop_early",
    "tx_warmup",
]


def _train_setup(args: argparse.Namespace) -> tuple[Config, Path]:
    """The configuration and run directory of ``mfcomm train``: from the options, or (``--resume DIR``) from
    DIR's checkpoint, which fixes the configuration."""
    from mfcomm import checkpointing, config, run_directory

    if not args.resume:
        cfg = config.resolve(args.config, {k: getattr(args, k) for k in TRAIN_KEYS}, trust=args.trust_config)
        return cfg, Path(args.out) if args.out else run_directory.default_out()
    given = [f"--{k.replace('_', '-')}" for k in ["config", "out", *TRAIN_KEYS] if getattr(args, k) is not None]
    if given or args.overwrite:
        drop = " ".join(given) or "--overwrite"
        raise ConfigError(f"--resume continues a run as its checkpoint configured it: drop {drop}")
    out = Path(args.resume)
    state = checkpointing.read(out / run_directory.CHECKPOINT)
    values = tomllib.loads(state["config"])
    config.check_trusted(out / run_directory.CHECKPOINT, values, {}, args.trust_config)
    return config.resolve(overrides=values), out


def cmd_train(args: argparse.Namespace) -> int:
    from mfcomm import run_directory, runs
    from mfcomm.errors import Interrupted

    cfg, out = _train_setup(args)
    created = not out.exists()
    run_directory.prepare(out, args.overwrite, bool(args.resume), runs.bytes_needed(cfg))
    checkpoint = out / run_directory.CHECKPOINT
    tensorboard = _tensorboard_log(args, out)
    total = cfg.iterations + (cfg.finetune_iterations if cfg.method == "model-free" else 0)
    try:
        with tensorboard or contextlib.nullcontext():
            run = runs.train(cfg, quiet=args.quiet, checkpoint=checkpoint, resume=bool(args.resume), on_log=tensorboard)
        keep = {run_directory.TENSORBOARD} if tensorboard else set()
        runs.save(run, out, replace=True, keep=keep)  # the final weights supersede the checkpoint
    except Interrupted as stop:
        _drop_unresumable_logs(tensorboard, checkpoint)
        where = f"interrupted ({stop.signal_name}) at iteration {stop.iteration} of {total}"
        resume = f"mfcomm train --resume {out}" + (" --trust-config" if cfg.is_user_channel else "")
        hint = f"resume with: {resume}" if stop.saved else "nothing to resume (no checkpoint yet)"
        print(f"mfcomm train: {where}; {hint}", file=sys.stderr)
        return 128 + signal.Signals[stop.signal_name].value
    except BaseException as err:
        if checkpoint.exists() and isinstance(err, KeyboardInterrupt):
            print(f"mfcomm train: interrupted; resume with: mfcomm train --resume {out}", file=sys.stderr)
            return 130
        _drop_unresumable_logs(tensorboard, checkpoint)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # a failed run leaves no empty directory behind
        raise
    s = run.summary()
    lo, hi = s["ser_ci"]
    print(
        f"{cfg.method} on {cfg.channel}: SER {s['ser']:.3e} [{lo:.2e}, {hi:.2e}] over {s['eval_messages']} "
        f"messages; {s['channel_uses_spent']} channel uses, {s['train_seconds']:.1f} s; wrote {out}"
    )
    _print_baseline(s)
    return 0


def _tensorboard_log(args: argparse.Namespace, out: Path) -> TensorBoardLog | None:
    """``--tensorboard``: a log into OUT/tensorboard, emptied first unless the run resumes (then a resumed run's
    curves go on where its checkpoint left them, see :class:`~mfcomm.tensorboard_log.TensorBoardLog`)."""
    if not args.tensorboard:
        return None
    from mfcomm.run_directory import TENSORBOARD
    from mfcomm.tensorboard_log import TensorBoardLog

    if not args.resume:
        shutil.rmtree(out / TENSORBOARD, ignore_errors=True)  # an overwritten run's curves never mix with these
    return TensorBoardLog(out / TENSORBOARD)


def _drop_unresumable_logs(tensorboard: TensorBoardLog | None, checkpoint: Path) -> None:
    """A run that failed with no checkpoint to resume from leaves no TensorBoard logs either."""
    if tensorboard and not checkpoint.exists():
        shutil.rmtree(tensorboard.directory, ignore_errors=True)


def _print_baseline(s: dict) -> None:
    """The baseline line of ``mfcomm train``, and a warning on stderr when the learned system is worse."""
    if s.get("baseline") is None:
        return
    name, ser, (lo, hi) = s["baseline"], s["baseline_ser"], s["baseline_ci"]
    ratio = f"{s['ser'] / ser:.2f}" if ser > 0 else "inf" if s["ser"] > 0 else "n/a"
    cost = f"; {s['baseline_channel_uses']} channel uses" if s["baseline_channel_uses"] else ""
    print(
        f"baseline {name} ({s['baseline_method']}): SER {ser:.2e} [{lo:.2e}, {hi:.2e}]; "
        f"learned/baseline = {ratio}{cost}"
    )
    if s.get("kept") == "classical":
        print(
            f"kept the classical system: the trained one reached SER {s['trained_ser']:.2e}, worse than {name} "
            "(confidence intervals apart); the SER above is the classical system's with a receiver trained for it",
            file=sys.stderr,
        )
    elif s["ser_ci"][0] > hi:  # confidence intervals apart: not a fluke of the Monte Carlo estimate
        print(
            f"warning: the learned system is worse than {name} (SER {s['ser']:.2e} vs {ser:.2e}, confidence "
            "intervals apart); train longer (--iterations), try --candidates 4, or see docs/getting-good-systems.md",
            file=sys.stderr,
        )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mfcomm import chain, config, runs, sweep
    from mfcomm.conventions import ebno_db_to_snr_db

    config.check_number("--target-errors", args.target_errors, 1, 10**9)
    config.check_number("--max-messages", args.max_messages, 1, 10**12)
    run = runs.load(args.dir, trust=args.trust_config or args.channel is not None)  # --channel: the run's is unused
    channel = args.channel or run.cfg.channel
    snrs: list[float] | None
    if args.snr_db:
        snrs = sweep.parse_range(args.snr_db)
    elif args.ebno_db:
        snrs = [ebno_db_to_snr_db(e, run.cfg.bits, run.cfg.channel_uses) for e in sweep.parse_range(args.ebno_db)]
    else:
        snrs = sweep.default_range(run) if chain.has_noise(channel) else None
    if channel not in chain.NOISE_STAGES and not chain.is_chain(channel) and ":" not in channel:
        raise ConfigError(f"unknown channel {channel!r}: use awgn, rbf, an impairment chain or PATH.py:FUNC")
    rows = sweep.evaluate_run(run, Path(args.dir), snrs, channel, args.target_errors, args.max_messages, args.quiet)
    for r in rows:
        base = f"  baseline {r['baseline_ser']:.3e}" if "baseline_ser" in r else ""
        where = "the channel's own noise" if r["snr_db"] == "" else f"Es/N0 {r['snr_db']:>6g} dB"
        print(f"{where}  SER {r['ser']:.3e} [{r['ci_low']:.2e}, {r['ci_high']:.2e}]{base}")
    print(f"wrote {Path(args.dir) / 'ser.csv'} and {Path(args.dir) / 'ser.png'}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from mfcomm import demo

    report = demo.run_demo(Path(args.out), quick=args.quick, quiet=args.quiet)
    print(f"report: {report}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line too (the usage itself is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog="mfcomm",
        description="Model-free end-to-end learning of communication systems (Ait Aoudia & Hoydis, JSAC 2019).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _demo_parser(sub)
    _gradcheck_parser(sub)
    _node_parser(sub)
    cli_bitwise.add_parser(sub)
    cli_sweep.add_parser(sub)
    args = parser.parse_args(argv)
    commands = {
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "demo": cmd_demo,
        "gradcheck": cmd_gradcheck,
        "node": cmd_node,
        "bitwise": cli_bitwise.run,
        "sweep": cli_sweep.run,
    }
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return commands[args.command](args)
    except MfcommError as err:
        print(f"mfcomm {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mfcomm {args.command}: interrupted; nothing written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


def _terminate(_signum: int, _frame: object) -> None:
    """SIGTERM ends a command as Ctrl-C does: cleanly, with a line saying so (training checkpoints first)."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

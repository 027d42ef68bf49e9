"""The ``mfcomm`` command: ``train``, ``evaluate``, ``demo``, ``gradcheck``, ``node``, ``bitwise`` (see README.md,
"Command line").

Every user error ends in one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mfcomm import cli_bitwise
from mfcomm.errors import MfcommError

EXIT_USAGE = 2


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a transmitter and receiver, then measure the SER",
                       description="Train over a built-in channel, an impairment chain such as "
                       "'rapp(p=2,sat=1.2) | awgn | adc(bits=3)', or a black box PATH.py:FUNC.")
    _training_options(p)
    p.add_argument("--out", help="output directory (default runs/<timestamp>)")
    p.add_argument("--no-keep-best", dest="keep_best", action="store_false", default=None,
                   help="return the trained system even when the classical one measures better")
    p.add_argument("--no-baseline", dest="compare_baseline", action="store_false", default=None,
                   help="do not measure the same-rate classical system on the same channel after training")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _training_options(p: argparse.ArgumentParser) -> None:
    """The configuration options of ``train``, shared with ``node``."""
    p.add_argument("--config", help="TOML file of configuration values (options below override it)")
    p.add_argument("--method", choices=["model-free", "model-based"])
    p.add_argument("--recipe", choices=["default", "paper"], help="default: the best measured recipe; paper: the "
                   "paper's Algorithm 1 as published (options given explicitly override either)")
    p.add_argument("--channel", help="awgn, rbf, a chain of stages separated by | (awgn, rbf, adc, rapp, saleh, "
                   "phase_noise, cfo, iq, phase; e.g. 'rapp(p=2) | awgn | adc(bits=3)'), or PATH.py:FUNC "
                   "(a function on complex64 arrays (batch, N))")
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
    p.add_argument("--loss-baseline", choices=["none", "batch", "message", "running"],
                   help="baseline subtracted from fed-back losses (variance reduction)")
    p.add_argument("--feedback", choices=["perfect", "noisy", "quantized"], help="feedback link for the losses")
    p.add_argument("--feedback-bits", type=int, help="bits per loss with --feedback quantized")
    p.add_argument("--feedback-noise", type=float, help="noise std per loss with --feedback noisy")
    p.add_argument("--rx-steps", type=int, help="receiver steps per model-free iteration")
    p.add_argument("--rx-on-tx-batch", action=argparse.BooleanOptionalAction, default=None,
                   help="the receiver also learns from the transmitter steps' transmissions (default on)")
    p.add_argument("--tx-steps", type=int, help="transmitter steps per model-free iteration")
    p.add_argument("--rx-lr", type=float)
    p.add_argument("--tx-lr", type=float)
    p.add_argument("--equalizer", choices=["auto", "on", "off"])
    p.add_argument("--init", help="where training starts: random, classical (the same-rate classical codebook) or "
                   "RUN_DIR (an earlier run with the same M and n: transmitter and receiver start from its weights)")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], help="learning-rate schedule over the iterations")
    p.add_argument("--tx-warmup", type=int, help="iterations over which the transmitter's learning rate ramps up "
                   "from 0 (default 200)")
    p.add_argument("--lr-final-ratio", type=float, help="final over initial learning rate with --lr-schedule cosine")
    p.add_argument("--candidates", type=int, help="candidate systems trained briefly before the main training, "
                   "which goes on from the best on held-out messages (1: none)")
    p.add_argument("--candidate-iterations", type=int, help="iterations each candidate trains before the selection")
    p.add_argument("--patience", type=int, help="iterations without a 1%% better held-out loss after which training "
                   "counts as converged (default 1000; 0: not watched)")
    p.add_argument("--stop-early", action="store_true", default=None, help="end training once it has converged "
                   "(--iterations stays the cap)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--channel-timeout", type=float, help="seconds a black-box channel call may take (0: no limit)")
    p.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (0: none)")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="SER versus SNR of a trained run, with baselines",
                       description="Writes DIR/ser.csv and DIR/ser.png.")
    p.add_argument("dir", help="a run directory written by mfcomm train")
    snr = p.add_mutually_exclusive_group()
    snr.add_argument("--snr-db", help="Es/N0 sweep A:B:STEP in dB (default: training point -10 to +6 dB)")
    snr.add_argument("--ebno-db", help="Eb/N0 sweep A:B:STEP in dB")
    p.add_argument("--channel", help="evaluate on this channel instead of the training one")
    p.add_argument("--target-errors", type=int, default=1000, help="errors to collect per point (default 1000)")
    p.add_argument("--max-messages", type=int, default=10_000_000, help="message cap per point (default 1e7)")
    p.add_argument("--quiet", action="store_true")


def _demo_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the paper's comparison: model-free vs model-based on AWGN and RBF",
                       description="Trains, evaluates and writes a Markdown report with figures.")
    p.add_argument("--out", default="runs/demo", help="report directory (default runs/demo)")
    p.add_argument("--quick", action="store_true", help="a much shorter run, for smoke tests")
    p.add_argument("--quiet", action="store_true")


def _gradcheck_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gradcheck", help="the model-free gradient estimate against the true gradient",
                       description="Bias, variance, cosine similarity and samples needed over sigma2 and batch "
                       "sizes, on a differentiable channel. Writes DIR/gradcheck.csv and DIR/gradcheck.png.")
    p.add_argument("--config", help="TOML file (system and channel settings)")
    p.add_argument("--channel", choices=["awgn", "rbf"])
    p.add_argument("--messages", type=int)
    p.add_argument("--channel-uses", type=int)
    p.add_argument("--snr-db", type=float)
    p.add_argument("--sigma2", default="0.5,0.2,0.1,0.05,0.02,0.01", help="comma-separated sigma2 values")
    p.add_argument("--batch-sizes", default="64,512", help="comma-separated transmissions per estimate")
    p.add_argument("--variants", default="plain,batch,message,antithetic",
                   help="comma-separated: plain, batch, running, message, antithetic, antithetic-message")
    p.add_argument("--trials", type=int, default=200, help="independent estimates per point (default 200)")
    p.add_argument("--pretrain-iterations", type=int, default=300,
                   help="model-based iterations before measuring, for a typical operating point")
    p.add_argument("--target-cosine", type=float, default=0.9)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", default="runs/gradcheck")
    p.add_argument("--quiet", action="store_true")


def _node_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("node", help="three-process training: the tx, channel or rx node, or all three",
                       description="Model-free training with the transmitter, the channel and the receiver in "
                       "separate processes, connected over ZeroMQ (tx -> channel -> rx -> tx). Start each role with "
                       "the same configuration, or 'all' for three processes on this machine.")
    p.add_argument("role", choices=["tx", "channel", "rx", "all"])
    _training_options(p)
    g = p.add_argument_group("nodes")
    g.add_argument("--tx-addr", default="127.0.0.1:5555", help="HOST:PORT of the tx node (default 127.0.0.1:5555)")
    g.add_argument("--channel-addr", default="127.0.0.1:5556", help="HOST:PORT of the channel node")
    g.add_argument("--rx-addr", default="127.0.0.1:5557", help="HOST:PORT of the rx node")
    g.add_argument("--bind", help="interface this node listens on (default: the host of its own address)")
    g.add_argument("--state", help="this node's checkpoints and results (default runs/nodes/ROLE); a restarted "
                   "node resumes from it")
    g.add_argument("--peer-timeout", type=float, default=30.0, help="seconds of silence from the peers before "
                   "stopping with an error (default 30)")
    g.add_argument("--max-message-mb", type=float, default=64.0, help="largest message accepted (default 64 MiB)")
    p.add_argument("--out", help="with 'all': the run directory, as mfcomm train writes it (default runs/<timestamp>)")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def cmd_node(args: argparse.Namespace) -> int:
    from mfcomm import config
    from mfcomm.errors import ConfigError
    from mfcomm.nodes import node
    from mfcomm.nodes.link import NodeOptions

    cfg = config.resolve(args.config, {k: v for k, v in vars(args).items() if k in config.FIELDS})
    if cfg.candidates > 1 or cfg.stop_early:
        raise ConfigError("the nodes train one system to the iteration cap: --candidates and --stop-early are for "
                          "mfcomm train")
    options = NodeOptions(args.tx_addr, args.channel_addr, args.rx_addr, args.bind, args.peer_timeout,
                          int(args.max_message_mb * 2**20)).validate()
    if args.role == "all":
        from mfcomm.nodes import launcher

        out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
        s = launcher.run_all(cfg, out, options.peer_timeout, options.max_bytes, args.quiet).summary()
        print(f"three-process {cfg.method} on {cfg.channel}: SER {s['ser']:.3e} [{s['ser_ci'][0]:.2e}, "
              f"{s['ser_ci'][1]:.2e}] over {s['eval_messages']} messages; {s['channel_uses_spent']} channel uses, "
              f"{s['train_seconds']:.1f} s; wrote {out}")
        _print_baseline(s)
        return 0
    state = node.node_state(args.role, args.state)
    result = node.run_node(args.role, cfg, options, state, args.quiet)
    ser = f"; SER {result['ser']:.3e} over {result['eval_messages']} messages" if result.get("ser") is not None else ""
    print(f"{args.role} node: done{ser}; wrote {state}")
    return 0


def _floats(text: str, name: str) -> list[float]:
    from mfcomm.errors import ConfigError

    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, not {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: no values given")
    return values


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from mfcomm import config, gradcheck
    from mfcomm.errors import ConfigError

    cfg = config.resolve(args.config, {k: getattr(args, k) for k in
                                       ("channel", "messages", "channel_uses", "snr_db", "seed")})
    sigma2s = _floats(args.sigma2, "--sigma2")
    sizes = [int(v) for v in _floats(args.batch_sizes, "--batch-sizes")]
    if not all(0 < s < 1 for s in sigma2s):
        raise ConfigError("--sigma2 values must lie in (0, 1)")
    if min(sizes) < 8 or args.trials < 10 or args.pretrain_iterations < 0 or not 0 < args.target_cosine < 1:
        raise ConfigError("need batch sizes >= 8, --trials >= 10, --pretrain-iterations >= 0, 0 < --target-cosine < 1")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    out = Path(args.out)
    rows = gradcheck.run_gradcheck(cfg, out, sigma2s, sizes, variants, args.trials, args.pretrain_iterations,
                                   args.target_cosine, args.quiet)
    for r in rows:
        print(f"{r['variant']:>18} sigma2 {r['sigma2']:<6g} S {r['batch']:>5}  bias {r['bias']:.3e} "
              f"(+-{r['bias_noise']:.1e})  cosine {r['cosine']:.3f}  S for cos {args.target_cosine}: "
              f"{r['samples_for_cosine']:.3g}")
    print(f"wrote {out / 'gradcheck.csv'} and {out / 'gradcheck.png'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from mfcomm import config, runs

    keys = ["method", "channel", "messages", "channel_uses", "snr_db", "ebno_db", "signalling",
            "normalization", "iterations", "finetune_iterations", "batch_size", "sigma2", "rx_steps",
            "tx_steps", "rx_lr", "tx_lr", "equalizer", "seed", "device", "sigma2_final", "tx_batch_size",
            "perturbations", "antithetic", "loss_baseline", "feedback", "feedback_bits", "feedback_noise", "rx_on_tx_batch",
            "channel_timeout", "checkpoint_every", "init", "lr_schedule", "lr_final_ratio",
            "patience", "compare_baseline", "recipe", "candidates", "candidate_iterations",
            "keep_best", "stop_early", "tx_warmup"]
    cfg = config.resolve(args.config, {k: getattr(args, k) for k in keys})
    out = Path(args.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    checkpoint = out / "checkpoint.safetensors"
    run = runs.train(cfg, quiet=args.quiet, checkpoint=checkpoint)
    runs.save(run, out)
    checkpoint.unlink(missing_ok=True)  # the final weights supersede it
    s = run.summary()
    lo, hi = s["ser_ci"]
    print(f"{cfg.method} on {cfg.channel}: SER {s['ser']:.3e} [{lo:.2e}, {hi:.2e}] over {s['eval_messages']} "
          f"messages; {s['channel_uses_spent']} channel uses, {s['train_seconds']:.1f} s; wrote {out}")
    _print_baseline(s)
    return 0


def _print_baseline(s: dict) -> None:
    """The baseline line of ``mfcomm train``, and a warning on stderr when the learned system is worse."""
    if s.get("baseline") is None:
        return
    name, ser, (lo, hi) = s["baseline"], s["baseline_ser"], s["baseline_ci"]
    ratio = f"{s['ser'] / ser:.2f}" if ser > 0 else "inf" if s["ser"] > 0 else "n/a"
    cost = f"; {s['baseline_channel_uses']} channel uses" if s["baseline_channel_uses"] else ""
    print(f"baseline {name} ({s['baseline_method']}): SER {ser:.2e} [{lo:.2e}, {hi:.2e}]; "
          f"learned/baseline = {ratio}{cost}")
    if s.get("kept") == "classical":
        print(f"kept the classical system: the trained one reached SER {s['trained_ser']:.2e}, worse than {name} "
              "(confidence intervals apart); the SER above is the classical system's with a receiver trained for it",
              file=sys.stderr)
    elif s["ser_ci"][0] > hi:  # confidence intervals apart: not a fluke of the Monte Carlo estimate
        print(f"warning: the learned system is worse than {name} (SER {s['ser']:.2e} vs {ser:.2e}, confidence "
              "intervals apart); train longer (--iterations), try --candidates 4, or see docs/getting-good-systems.md",
              file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mfcomm import chain, runs, sweep
    from mfcomm.conventions import ebno_db_to_snr_db
    from mfcomm.errors import ConfigError

    if args.target_errors < 1 or args.max_messages < 1:
        raise ConfigError("--target-errors and --max-messages must be positive")
    run = runs.load(args.dir)
    channel = args.channel or run.cfg.channel
    if args.snr_db:
        snrs = sweep.parse_range(args.snr_db)
    elif args.ebno_db:
        snrs = [ebno_db_to_snr_db(e, run.cfg.bits, run.cfg.channel_uses) for e in sweep.parse_range(args.ebno_db)]
    else:
        snrs = sweep.default_range(run) if chain.has_noise(channel) else None
    if channel not in chain.NOISE_STAGES and not chain.is_chain(channel) and ":" not in channel:
        raise ConfigError(f"unknown channel {channel!r}: use awgn, rbf, an impairment chain or PATH.py:FUNC")
    rows = sweep.evaluate_run(run, Path(args.dir), snrs, channel, args.target_errors, args.max_messages,
                              args.quiet)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mfcomm", description="Model-free end-to-end learning of "
                                     "communication systems (Ait Aoudia & Hoydis, JSAC 2019).")
    sub = parser.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _demo_parser(sub)
    _gradcheck_parser(sub)
    _node_parser(sub)
    cli_bitwise.add_parser(sub)
    args = parser.parse_args(argv)
    commands = {"train": cmd_train, "evaluate": cmd_evaluate, "demo": cmd_demo, "gradcheck": cmd_gradcheck,
                "node": cmd_node, "bitwise": cli_bitwise.run}
    try:
        return commands[args.command](args)
    except MfcommError as err:
        print(f"mfcomm {args.command}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"mfcomm {args.command}: interrupted; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())



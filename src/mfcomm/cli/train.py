"""``mfcomm train``: train a transmitter and receiver into a run directory, or resume one (see docs/cli.md)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

from mfcomm.cli.options import config_overrides, out_dir, training_options
from mfcomm.errors import ConfigError

if TYPE_CHECKING:
    from mfcomm.config.fields import Config
    from mfcomm.experiment.tensorboard_log import TensorBoardLog


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``train`` command."""
    p = sub.add_parser(
        "train",
        help="train a transmitter and receiver, then measure the SER",
        description="Train over a built-in channel, an impairment chain such as "
        "'rapp(p=2,sat=1.2) | awgn | adc(bits=3)', or a black box PATH.py:FUNC.",
    )
    train_arguments(p)


def train_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``train`` (and of ``bitwise train``, which is ``train --task bits``)."""
    training_options(p)
    p.add_argument(
        "--out", type=out_dir, help="output directory (default runs/<timestamp>); an existing run there is refused"
    )
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


def _train_setup(args: argparse.Namespace) -> tuple[Config, Path]:
    """The configuration and run directory of ``mfcomm train``: from the options, or (``--resume DIR``) from
    DIR's checkpoint, which fixes the configuration."""
    from mfcomm.config.fields import FIELDS
    from mfcomm.config.files import check_trusted, configure
    from mfcomm.experiment import run_directory
    from mfcomm.learning import checkpointing

    overrides = config_overrides(args, FIELDS)
    if not args.resume:
        cfg = configure(args.config, overrides, trust=args.trust_config)
        return cfg, Path(args.out) if args.out else run_directory.default_out()
    named = {"config": args.config, "out": args.out, **overrides}
    given = [f"--{k.replace('_', '-')}" for k, v in named.items() if v is not None and k != "ebno_db_max"]
    if given or args.overwrite:
        drop = " ".join(given) or "--overwrite"
        raise ConfigError(f"--resume continues a run as its checkpoint configured it: drop {drop}")
    out = Path(args.resume)
    checkpoint = run_directory.resumed(out) / run_directory.CHECKPOINT
    state = checkpointing.read(checkpoint)
    values = tomllib.loads(state["config"])
    check_trusted(checkpoint, values, {}, args.trust_config)
    return configure(overrides=values), out


def run(args: argparse.Namespace) -> int:
    """Train, save the run into its directory and print its SER; an interrupt leaves a checkpoint to resume."""
    from mfcomm.experiment import run_directory
    from mfcomm.experiment.run_lock import owned
    from mfcomm.system.build import bytes_needed

    cfg, out = _train_setup(args)
    with owned(out):  # one command at a time writes a run directory
        work = run_directory.prepare(out, args.overwrite, bool(args.resume), bytes_needed(cfg))
        try:
            return _train_into(args, cfg, out, work)
        finally:
            if work != out and not (work / run_directory.CHECKPOINT).exists():
                shutil.rmtree(work, ignore_errors=True)  # a replacement with nothing to resume: the old run stays


def _train_into(args: argparse.Namespace, cfg: Config, out: Path, work: Path) -> int:
    """Train into ``work`` (``out``, or the staging folder of a run that replaces ``out``'s), publish, print."""
    from mfcomm.channels.spec import names_code
    from mfcomm.cli.signals import exit_status, signal_name
    from mfcomm.errors import Interrupted
    from mfcomm.experiment import run_directory, runs

    checkpoint = work / run_directory.CHECKPOINT
    tensorboard = _tensorboard_log(args, work)
    resume = f"mfcomm train --resume {out}" + (" --trust-config" if names_code(cfg.channel) else "")
    try:
        with tensorboard or contextlib.nullcontext():
            trained = runs.train(
                cfg, quiet=args.quiet, checkpoint=checkpoint, resume=bool(args.resume), on_log=tensorboard
            )
        keep = {run_directory.TENSORBOARD} if tensorboard else set()
        runs.save(trained, work, replace=True, keep=keep)  # the final weights supersede the checkpoint
        if work != out:
            run_directory.swap(work, out)
    except Interrupted as stop:
        _drop_unresumable_logs(tensorboard, checkpoint)
        where = f"interrupted ({stop.signal_name}) at iteration {stop.iteration} of {cfg.total_iterations}"
        hint = f"resume with: {resume}" if stop.saved else "nothing to resume (no checkpoint yet)"
        print(f"mfcomm train: {where}; {hint}", file=sys.stderr)
        return 128 + signal.Signals[stop.signal_name].value
    except BaseException as err:
        if checkpoint.exists() and isinstance(err, KeyboardInterrupt):  # a second signal, or during evaluation
            print(f"mfcomm train: interrupted ({signal_name(err)}); resume with: {resume}", file=sys.stderr)
            return exit_status(err)
        _drop_unresumable_logs(tensorboard, checkpoint)
        raise
    print_result(runs.summary(trained), out)
    return 0


def print_result(s: dict, out: Path) -> None:
    """What the run reached, what it cost and where it is; then its baseline."""
    cost = f"{s['channel_uses_spent']} channel uses, {s['train_seconds']:.1f} s; wrote {out}"
    if s.get("task") == "ofdm":
        from mfcomm.experiment.ofdm_task import headline as ofdm_headline

        print(f"{ofdm_headline(s)}; {cost}")
        for name, curve in s["systems"].items():
            if name != "learned":
                blers = ", ".join(f"{e:g} dB: {b:.3g}" for e, b in zip(curve["ebno_db"], curve["bler"], strict=True))
                print(f"baseline {name}: coded BLER {blers}")
        return
    if s.get("task") == "bits":
        from mfcomm.experiment.bit_task import headline

        print(f"{headline(s)}; {cost}")
        if s["baseline"]:
            rates = ", ".join(f"{e} dB: {r:.3f}" for e, r in s["baseline_bmd_rate"].items())
            print(f"baseline {s['baseline']}: BMD rate (bit/symbol) {rates}")
        return
    lo, hi = s["ser_ci"]
    ser = f"SER {s['ser']:.3e} [{lo:.2e}, {hi:.2e}] over {s['eval_messages']} messages"
    print(f"{s['method']} on {s['channel']}: {ser}; {cost}")
    print_baseline(s)


def _tensorboard_log(args: argparse.Namespace, out: Path) -> TensorBoardLog | None:
    """``--tensorboard``: a log into OUT/tensorboard, emptied first unless the run resumes (then a resumed run's
    curves go on where its checkpoint left them, see :class:`~mfcomm.experiment.tensorboard_log.TensorBoardLog`)."""
    if not args.tensorboard:
        return None
    from mfcomm.experiment.run_directory import TENSORBOARD
    from mfcomm.experiment.tensorboard_log import TensorBoardLog

    if not args.resume:
        shutil.rmtree(out / TENSORBOARD, ignore_errors=True)  # an overwritten run's curves never mix with these
    return TensorBoardLog(out / TENSORBOARD)


def _drop_unresumable_logs(tensorboard: TensorBoardLog | None, checkpoint: Path) -> None:
    """A run that failed with no checkpoint to resume from leaves no TensorBoard logs either."""
    if tensorboard and not checkpoint.exists():
        shutil.rmtree(tensorboard.directory, ignore_errors=True)


def print_baseline(s: dict) -> None:
    """The baseline line of ``mfcomm train`` (and ``node all``), and a warning on stderr when the learned system
    is worse."""
    if s.get("baseline") is None:
        return
    name, ser, (lo, hi) = s["baseline"], s["baseline_ser"], s["baseline_ci"]
    ratio = f"{s['ser'] / ser:.2f}" if ser > 0 else "inf" if s["ser"] > 0 else "n/a"
    cost = f"; {s['baseline_channel_uses']} channel uses" if s["baseline_channel_uses"] else ""
    bound = s.get("baseline_coherent_ser")
    coherent = f"; a detector told h: {bound:.2e} (a bound)" if bound is not None and bound != ser else ""
    print(
        f"baseline {name} ({s['baseline_method']}): SER {ser:.2e} [{lo:.2e}, {hi:.2e}]; "
        f"learned/baseline = {ratio}{cost}{coherent}"
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

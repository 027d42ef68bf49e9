"""``mfcomm gradcheck``: the model-free gradient estimate against the true gradient on a differentiable channel
(see docs/estimator.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mfcomm.cli.options import out_dir
from mfcomm.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``gradcheck`` command."""
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
    p.add_argument("--out", type=out_dir, default="runs/gradcheck")
    p.add_argument("--overwrite", action="store_true", help="replace the gradient check already in --out")
    p.add_argument("--quiet", action="store_true")


def _floats(text: str, name: str) -> list[float]:
    """The numbers of a comma-separated option such as ``--sigma2 0.1,0.01``.

    >>> _floats("0.1, 0.01,", "--sigma2")
    [0.1, 0.01]
    """
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{name}: expected comma-separated numbers, not {text!r}") from None
    if not values:
        raise ConfigError(f"{name}: no values given")
    return values


def run(args: argparse.Namespace) -> int:
    """Check the options, measure the estimator at every point, print one line per point."""
    from mfcomm.config.checks import check_number
    from mfcomm.config.files import configure
    from mfcomm.experiment import gradcheck, run_directory
    from mfcomm.experiment.run_lock import owned

    cfg = configure(
        args.config, {k: getattr(args, k) for k in ("channel", "messages", "channel_uses", "snr_db", "seed")}
    )
    sigma2s = _floats(args.sigma2, "--sigma2")
    sizes = _floats(args.batch_sizes, "--batch-sizes")
    for value in sigma2s:
        check_number("--sigma2 value", value, 0.0, 1.0, "()")
    for value in sizes:
        check_number("--batch-sizes value", value, 8, 2**20)
    check_number("--trials", args.trials, 10, 10**6)
    check_number("--pretrain-iterations", args.pretrain_iterations, 0, 10**6)
    check_number("--target-cosine", args.target_cosine, 0.0, 1.0, "()")
    batch_sizes = [int(v) for v in sizes]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    out = Path(args.out)
    with owned(out):
        run_directory.check_out(out, "gradcheck.csv", args.overwrite)
        run_directory.check_space(out, 16 << 20)  # a table and a figure
        rows = gradcheck.run_gradcheck(
            cfg,
            out,
            sigma2s,
            batch_sizes,
            variants,
            args.trials,
            args.pretrain_iterations,
            args.target_cosine,
            args.quiet,
        )
    for r in rows:
        print(
            f"{r['variant']:>18} sigma2 {r['sigma2']:<6g} S {r['batch']:>5}  bias {r['bias']:.3e} "
            f"(+-{r['bias_noise']:.1e})  cosine {r['cosine']:.3f}  S for cos {args.target_cosine}: "
            f"{r['samples_for_cosine']:.3g}"
        )
    print(f"wrote {out / 'gradcheck.csv'} and {out / 'gradcheck.png'}")
    return 0

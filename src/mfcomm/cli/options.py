"""The configuration options of ``mfcomm train``, which ``mfcomm node`` takes too (one per configuration field,
see :mod:`mfcomm.config.files`); unset ones stay ``None`` so that the ``--config`` file and the defaults apply."""

from __future__ import annotations

import argparse
from typing import Any


def training_options(p: argparse.ArgumentParser) -> None:
    """Add the configuration options of ``train`` to ``p``, in the order ``--help`` lists them."""
    _system_options(p)
    _bits_options(p)
    _step_options(p)
    _start_options(p)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--channel-timeout", type=float, help="seconds a black-box channel call may take (0: no limit)")
    p.add_argument("--checkpoint-every", type=int, help="iterations between checkpoints (0: none)")
    p.add_argument("--log-every", type=int, help="iterations between rows of metrics.csv (default 10)")


def config_overrides(args: argparse.Namespace, fields: Any) -> dict[str, Any]:
    """The options that are configuration ``fields`` (unset: None), with ``--ebno-db A:B`` as ``ebno_db`` and
    ``ebno_db_max``."""
    values = {k: v for k, v in vars(args).items() if k in fields}
    if isinstance(values.get("ebno_db"), tuple):
        values["ebno_db"], values["ebno_db_max"] = values["ebno_db"]
    return values


def ebno_db(text: str) -> float | tuple[float, float]:
    """``--ebno-db X``, or ``A:B`` (a range, for the bits task on AWGN).

    >>> ebno_db("7"), ebno_db("4:8")
    (7.0, (4.0, 8.0))
    """
    try:
        parts = [float(v) for v in text.split(":")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X or A:B in dB, not {text!r}") from None
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected X or A:B in dB, not {text!r}")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _bits_options(p: argparse.ArgumentParser) -> None:
    """The bits task's system: its constellation, codewords and outer code."""
    p.add_argument("--bits-per-symbol", type=int, help="bits task: b bits per symbol, 2^b points (default 6)")
    p.add_argument("--codeword-bits", type=int, help="bits task: coded bits per codeword (default 1500)")
    p.add_argument("--code-rate", type=float, help="outer code rate: Eb/N0 counts information bits (bits task: 0.5)")


def _system_options(p: argparse.ArgumentParser) -> None:
    """Where the configuration comes from, the method, the channel and the system trained on it."""
    p.add_argument("--config", help="TOML file of configuration values (options below override it)")
    p.add_argument(
        "--trust-config",
        action="store_true",
        help="run the Python channel (PATH.py:FUNC) that the "
        "--config file names; without it, such a channel must be given with --channel",
    )
    p.add_argument(
        "--task",
        choices=["symbols", "bits"],
        help="symbols (default): M messages in n channel uses, SER; bits: a constellation "
        "and neural demapper for an outer code, BMD rate and coded BER/BLER (see docs/bitwise.md)",
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
    snr.add_argument(
        "--ebno-db",
        type=ebno_db,
        help="Eb/N0 in dB (information bits); the bits task on awgn also takes a range A:B, drawn per codeword "
        "(default 4:8)",
    )
    p.add_argument("--signalling", choices=["complex", "real"])
    p.add_argument("--normalization", choices=["average", "per-message"])


def _step_options(p: argparse.ArgumentParser) -> None:
    """The training iterations: batches, perturbations, feedback, the receiver and transmitter steps."""
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
    p.add_argument(
        "--rx-lr-final", type=float, help="the receiver's rate decays geometrically to this over fine-tuning"
    )
    p.add_argument("--equalizer", choices=["auto", "on", "off"])


def _start_options(p: argparse.ArgumentParser) -> None:
    """Where training starts, its learning-rate schedule, the candidate selection and when it counts as done."""
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

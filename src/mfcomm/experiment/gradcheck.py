"""Gradient diagnostics (``mfcomm gradcheck``): the model-free estimate against the true gradient.

On a differentiable channel the true gradient of the mean loss w.r.t. the transmitter is available by
back-propagation. For each estimator variant, perturbation variance sigma2 and batch size S (channel
transmissions per estimate) this draws ``trials`` independent estimates and reports

- ``bias``: ||E[estimate] - true gradient||, the measured norm with the expected Monte Carlo error
  removed (``bias_noise`` is that error's rms: smaller biases are not resolved);
- ``variance``: trace of the covariance of one estimate;
- ``cosine``: mean cosine similarity of one estimate with the true gradient;
- ``samples_for_cosine``: transmissions one estimate needs for an expected cosine of ``target_cosine``,
  from the measured bias and per-sample variance (inf where the bias alone prevents it).

Theorem 1 shows as bias -> 0 when sigma2 -> 0; the price is variance growing like 1/sigma2.

Example
-------
Three estimates of the antithetic variant, one per row, each from 32 messages sent twice; and the transmissions
an unbiased estimate of per-sample variance 1 needs for a cosine of 0.9 with a unit gradient:

>>> from mfcomm.channels.contract import AWGN
>>> _ = torch.manual_seed(0)
>>> tx, rx = Transmitter(4, 1), Receiver(4, 1, (8,))
>>> _estimates(tx, rx, AWGN(0.1), 4, VARIANTS["antithetic"], 0.1, 32, trials=3).shape
torch.Size([3, 8])
>>> round(samples_for_cosine(torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0]), 0.0, 1.0, 0.9), 2)
4.26
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from tqdm import tqdm

from mfcomm.channels.contract import Channel
from mfcomm.channels.spec import make_channel
from mfcomm.config.fields import Config
from mfcomm.config.recipes import PAPER_RECIPE
from mfcomm.errors import ConfigError
from mfcomm.experiment.run_directory import write_csv
from mfcomm.learning.estimator import LossBaseline, perturb, surrogate
from mfcomm.learning.examples import Symbols
from mfcomm.learning.model_based import train_model_based
from mfcomm.learning.seeding import run_generator
from mfcomm.system.build import build_system
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter


@dataclass(frozen=True)
class Variant:
    """An estimator: perturbations per message, antithetic pairs, loss baseline."""

    name: str
    perturbations: int = 1
    antithetic: bool = False
    baseline: str = "none"


VARIANTS = {
    v.name: v
    for v in (
        Variant("plain"),
        Variant("batch", baseline="batch"),
        Variant("running", baseline="running"),
        Variant("message", perturbations=4, baseline="message"),
        Variant("antithetic", perturbations=2, antithetic=True),
        Variant("antithetic-message", perturbations=4, antithetic=True, baseline="message"),
    )
}


def samples_for_cosine(
    g: torch.Tensor, mean: torch.Tensor, noise2: float, variance_per_sample: float, target: float
) -> float:
    """Transmissions S per estimate for an expected cosine ``target`` with the true gradient ``g``.

    Model: one estimate is ``g + b + e`` with ``E||e||^2 = variance_per_sample / S``; ``mean`` estimates
    ``g + b`` with Monte Carlo error of squared norm ``noise2``, removed from ``||g + b||^2``.
    Inf where the bias alone keeps the cosine below ``target``.
    """
    along = float(g @ mean)
    need = along**2 / (target**2 * float(g @ g)) - max(float(mean @ mean) - noise2, along**2 / float(g @ g))
    return variance_per_sample / need if need > 0 else math.inf


def gradient_study(
    cfg: Config,
    sigma2s: list[float],
    batch_sizes: list[int],
    variants: list[str],
    trials: int,
    pretrain_iterations: int,
    target_cosine: float = 0.9,
    quiet: bool = False,
) -> list[dict[str, Any]]:
    """Rows of bias, variance, cosine and samples needed, one per (variant, sigma2, batch size)."""
    _check_study(cfg, variants)
    cfg = dataclasses.replace(cfg, **PAPER_RECIPE)  # the paper's operating point: a random start, Adam 3e-3
    with run_generator(cfg):  # every draw from the study's own stream, seeded by cfg.seed
        tx, rx, channel = _study_system(cfg, pretrain_iterations)
        g, truth_var = _true_gradient(tx, rx, channel, cfg.messages)
        rows = []
        total = len(variants) * len(sigma2s) * len(batch_sizes)
        with tqdm(total=total, desc="gradcheck", disable=quiet) as bar:
            for name in variants:
                v = VARIANTS[name]
                for sigma2 in sigma2s:
                    for size in batch_sizes:
                        messages = max(2, size // v.perturbations)
                        est = _estimates(tx, rx, channel, cfg.messages, v, sigma2, messages, trials)
                        rows.append(_study_row(v, sigma2, messages * v.perturbations, est, g, truth_var, target_cosine))
                        bar.update()
    return rows


def _check_study(cfg: Config, variants: list[str]) -> None:
    """Refuse, before any work, a channel without a true gradient and unknown variant names."""
    if cfg.is_user_channel:
        raise ConfigError("gradcheck needs a differentiable channel (awgn or rbf) for the true gradient")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown estimator variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")


def _study_system(cfg: Config, pretrain_iterations: int) -> tuple[Transmitter, Receiver, Channel]:
    """The system and channel (drawing from the caller's random generators), pretrained model-based if asked, with the
    receiver frozen."""
    tx, rx = build_system(cfg)
    channel = make_channel(cfg.channel, cfg.n0)
    if pretrain_iterations:  # a partly trained system: gradients as they are during training
        pre = dataclasses.replace(cfg, iterations=pretrain_iterations, method="model-based")
        train_model_based(tx, rx, channel, pre, log=lambda *_: None)
    rx.requires_grad_(False)
    return tx, rx, channel


def _flat_grad(tx: Transmitter) -> torch.Tensor:
    """The transmitter's gradient as one vector (call after backward())."""
    return torch.cat([cast(torch.Tensor, p.grad).flatten() for p in tx.parameters()])


def _true_gradient(tx: Transmitter, rx: Receiver, channel: Channel, messages: int) -> tuple[torch.Tensor, float]:
    """The true gradient by back-propagation, averaged over 32 batches, and its Monte Carlo variance."""
    grads = []
    for _ in range(32):
        tx.zero_grad()
        m = torch.randint(messages, (8192,))
        F.cross_entropy(rx(channel(tx(m))), m).backward()
        grads.append(_flat_grad(tx))
    truth = torch.stack(grads)
    return truth.mean(0), float(truth.var(0).sum()) / len(truth)


def _estimates(
    tx: Transmitter,
    rx: Receiver,
    channel: Channel,
    alphabet: int,
    v: Variant,
    sigma2: float,
    messages: int,
    trials: int,
) -> torch.Tensor:
    """``trials`` model-free estimates of one variant, one per row, each from ``messages`` messages: the
    transmitter step of :func:`mfcomm.learning.model_free.train_model_free` with a perfect feedback link, up to
    its optimiser step."""
    baseline, symbols = LossBaseline(v.baseline, alphabet, v.antithetic), Symbols(alphabet)
    estimates = []
    warmup = 20 if v.baseline == "running" else 0  # let the running baseline fill first
    for t in range(warmup + trials):
        m = symbols.draw(messages, next(tx.parameters()).device, None)
        m_k = m.repeat_interleave(v.perturbations)
        xbar = tx(m_k)
        x_p = perturb(xbar, sigma2, tx.real, v.perturbations, v.antithetic)
        with torch.no_grad():
            losses = symbols.losses(rx, channel(x_p), m_k).view(-1, v.perturbations)
        tx.zero_grad()
        surrogate(losses - baseline(losses, m), x_p, xbar, sigma2, tx.real).backward()  # Eq. 8
        if t >= warmup:
            estimates.append(_flat_grad(tx))
    return torch.stack(estimates)


def _study_row(
    v: Variant,
    sigma2: float,
    sent: int,
    est: torch.Tensor,
    g: torch.Tensor,
    truth_var: float,
    target_cosine: float,
) -> dict[str, Any]:
    """One row of the study: the estimates ``est`` (``sent`` transmissions each) against ``g``."""
    trials = len(est)
    mean = est.mean(0)
    variance = float(est.var(0).sum())
    noise2 = variance / trials + truth_var  # expected ||Monte Carlo error||^2 in mean - g
    return {
        "variant": v.name,
        "sigma2": sigma2,
        "batch": sent,
        "trials": trials,
        "bias": math.sqrt(max(float((mean - g).square().sum()) - noise2, 0.0)),
        "bias_noise": math.sqrt(noise2),
        "variance": variance,
        "cosine": float(F.cosine_similarity(est, g.expand_as(est), dim=1).mean()),
        "cosine_of_mean": float(F.cosine_similarity(mean, g, dim=0)),
        "samples_for_cosine": samples_for_cosine(g, mean, variance / trials, variance * sent, target_cosine),
        "true_gradient_norm": float(g.norm()),
    }


def plot_study(rows: list[dict[str, Any]], path: Path, target_cosine: float) -> None:
    """Four panels against sigma2: bias, variance, cosine (per batch size) and samples needed."""
    from mfcomm.plots import save_figure, subplots

    fig, axes = subplots(1, 4, figsize=(20, 4.2))
    largest = max(r["batch"] for r in rows)
    sizes = sorted({r["batch"] for r in rows}, reverse=True)
    styles = dict(zip(sizes, ("-", "--", ":", "-."), strict=False))  # more than 4 sizes: the rest draw "-"
    for i, variant in enumerate(dict.fromkeys(r["variant"] for r in rows)):
        mine = [r for r in rows if r["variant"] == variant]
        color = f"C{i}"
        big = sorted((r for r in mine if r["batch"] == max(x["batch"] for x in mine)), key=lambda r: r["sigma2"])
        s2 = [r["sigma2"] for r in big]
        axes[0].errorbar(
            s2,
            [r["bias"] for r in big],
            yerr=[r["bias_noise"] for r in big],
            marker="o",
            capsize=3,
            color=color,
            label=variant,
        )
        axes[1].plot(s2, [r["variance"] * r["batch"] for r in big], "o-", color=color, label=variant)
        axes[3].plot(s2, [r["samples_for_cosine"] for r in big], "o-", color=color, label=variant)
        for size in sorted({r["batch"] for r in mine}):
            part = sorted((r for r in mine if r["batch"] == size), key=lambda r: r["sigma2"])
            axes[2].plot(
                [r["sigma2"] for r in part],
                [r["cosine"] for r in part],
                marker="o",
                color=color,
                ls=styles.get(size, "-"),
                label=f"{variant}" if size == largest else None,
            )
    titles = (
        "bias ||E[estimate] - true||",
        "variance x batch (per transmission)",
        "cosine(estimate, true gradient); S: " + ", ".join(f"{styles[z]} {z}" for z in sizes[:4]),
        f"transmissions for cosine {target_cosine}",
    )
    for ax, title in zip(axes, titles, strict=True):
        ax.set(xscale="log", xlabel="sigma^2", title=title)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    if any(math.isfinite(r["samples_for_cosine"]) for r in rows):  # all inf: nothing to draw on a log axis
        axes[3].set_yscale("log")
    axes[2].legend(fontsize=6)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"model-free gradient estimate against the true gradient (largest batch {largest})")
    save_figure(fig, path)


def run_gradcheck(
    cfg: Config,
    out: Path,
    sigma2s: list[float],
    batch_sizes: list[int],
    variants: list[str],
    trials: int,
    pretrain_iterations: int,
    target_cosine: float,
    quiet: bool,
) -> list[dict[str, Any]]:
    """Study, then write ``gradcheck.csv`` and ``gradcheck.png`` into ``out``."""
    rows = gradient_study(cfg, sigma2s, batch_sizes, variants, trials, pretrain_iterations, target_cosine, quiet)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "gradcheck.csv", rows)
    plot_study(rows, out / "gradcheck.png", target_cosine)
    return rows

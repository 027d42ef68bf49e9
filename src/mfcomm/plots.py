"""Figures: learned constellation, learning curve, SER versus SNR. Each is written atomically as PNG.

Figures are made outside ``matplotlib.pyplot`` (:func:`subplots`): importing mfcomm selects no backend and
changes no global state, and a notebook's own pyplot settings stay as they were."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Figure, Any]:
    """A figure and its axes as ``pyplot.subplots`` makes them (``figsize`` and the same keywords), but held by
    no pyplot registry: nothing to close, no GUI backend (figures here are only saved)."""
    fig = Figure(figsize=kwargs.pop("figsize", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Figure, path: Path) -> None:
    """Write ``fig`` as PNG to a temporary name, then rename it into place."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    os.replace(tmp, path)


def plot_constellation(codebook: np.ndarray, path: Path, title: str = "", real: bool = False) -> None:
    """The :func:`constellation_figure` of ``codebook``, written to ``path``."""
    save_figure(constellation_figure(codebook, title, real), path)


def constellation_figure(codebook: np.ndarray, title: str = "", real: bool = False) -> Figure:
    """One panel per channel use (up to 8) of a complex (M, n) codebook, each message's symbol labelled with its
    index; the caller saves or logs the figure (TensorBoard).

    >>> fig = constellation_figure(np.array([[1, 1j], [-1, -1j]]))
    >>> len(fig.axes)
    2
    """
    messages, uses = codebook.shape
    shown = min(uses, 8)
    fig, axes = subplots(1, shown, figsize=(3.2 * shown, 3.3), squeeze=False)
    colors = colormaps["tab20"](np.arange(messages) % 20)
    lim = 1.15 * max(np.abs(codebook).max(), 1e-6)
    for j, ax in enumerate(axes[0]):
        ax.scatter(codebook[:, j].real, codebook[:, j].imag, c=colors, s=28)
        if messages <= 64:
            for m in range(messages):
                ax.annotate(
                    str(m),
                    (codebook[m, j].real, codebook[m, j].imag),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ax.set(
            xlim=(-lim, lim),
            ylim=(-lim, lim),
            aspect="equal",
            title=f"channel use {j + 1}",
            xlabel="in-phase",
            ylabel="" if j else ("value" if real else "quadrature"),
        )
        ax.grid(alpha=0.3)
    fig.suptitle(title or f"learned codebook (M={messages}, n={uses})")
    return fig


def plot_learning_curve(
    losses: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    sers: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    path: Path,
    xlabel: str = "channel uses spent in training",
    title: str = "",
) -> None:
    """Loss (and, where given, SER) against cost, one line per named curve ``{label: (x, y)}``."""
    panels = 2 if sers else 1
    fig, axes = subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    # one panel when there are no SER curves: zip stops there
    for ax, curves, ylabel in zip(axes[0], (losses, sers), ("cross-entropy (nats)", "SER"), strict=False):
        for label, (x, y) in curves.items():
            ax.plot(x, y, label=label)
        ax.set(xlabel=xlabel, ylabel=ylabel, yscale="log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.suptitle(title or "learning curve")
    save_figure(fig, path)


class Curve(TypedDict):
    """One curve of :func:`plot_ser`: SER against ``x``, with an optional CI band and line style."""

    x: Sequence[float]
    ser: Sequence[float]
    ci_low: NotRequired[Sequence[float]]
    ci_high: NotRequired[Sequence[float]]
    style: NotRequired[str]


def plot_ser(
    curves: Mapping[str, Curve],
    path: Path,
    xlabel: str = "Es/N0 (dB)",
    title: str = "",
    ylabel: str = "symbol (message) error rate",
) -> None:
    """Error-rate curves ``{label: {"x", "ser", optional "ci_low", "ci_high", "style"}}`` on a log axis (the rate
    under ``"ser"``, whatever ``ylabel`` says it is: an SER, a BLER)."""
    fig, ax = subplots(figsize=(6, 4.2))
    for label, c in curves.items():
        ser = np.asarray(c["ser"], dtype=float)
        (line,) = ax.semilogy(c["x"], np.where(ser > 0, ser, np.nan), c.get("style", "o-"), label=label, ms=4)
        if "ci_low" in c:
            ax.fill_between(
                c["x"], np.maximum(c["ci_low"], 1e-12), c["ci_high"], color=line.get_color(), alpha=0.15, lw=0
            )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "SER")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def plot_psd(freqs: np.ndarray, psd_db: np.ndarray, path: Path, title: str = "Transmitted spectrum") -> Path:
    """Write a power spectral density (:func:`mfcomm.channels.pulse_shaping.transmitted_psd`) as a PNG; returns
    ``path``."""
    fig, ax = subplots(figsize=(6.0, 3.5))
    ax.plot(freqs, psd_db, linewidth=1.0)
    ax.set(xlabel="frequency (cycles per symbol)", ylabel="PSD (dB)", title=title, xlim=(freqs[0], freqs[-1]))
    ax.set_ylim(max(float(np.min(psd_db)), float(np.max(psd_db)) - 80.0), float(np.max(psd_db)) + 3.0)
    ax.grid(True, alpha=0.4)
    save_figure(fig, Path(path))
    return Path(path)

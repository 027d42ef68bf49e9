"""A learned constellation out of mfcomm: as a Sionna ``Constellation``, as CSV, and as a labelled plot.

Point ``i`` carries the bit label ``i`` (most significant bit first), Sionna's implicit labelling, so the
points go into ``Constellation("custom", b, points=...)`` unchanged and Sionna's ``Mapper`` and
``Demapper`` use the learned labelling.

Example
-------
>>> import numpy as np, tempfile, pathlib
>>> points = np.array([1, 1j, -1, -1j], dtype=np.complex64)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
>>> write_constellation_csv(points, path)
>>> path.read_text().splitlines()[:2]
['index,label,real,imag', '0,00,1.00000000,0.00000000']
>>> to_sionna_constellation(read_constellation_csv(path)).num_bits_per_symbol
2
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from mfcomm.errors import MfcommError
from mfcomm.plots import save_figure, subplots
from mfcomm.sionna_import import phy


def _bits(points: np.ndarray) -> int:
    b = round(math.log2(len(points)))
    if 2**b != len(points) or b < 1:
        raise MfcommError(f"a constellation needs 2**b points, not {len(points)}")
    return b


def write_constellation_csv(points: np.ndarray, path: Path) -> None:
    """``index,label,real,imag`` rows, written to a temporary name and renamed into place."""
    b = _bits(points)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "label", "real", "imag"])
        for i, p in enumerate(points):
            w.writerow([i, format(i, f"0{b}b"), f"{p.real:.8f}", f"{p.imag:.8f}"])
    os.replace(tmp, path)


def read_constellation_csv(path: Path) -> np.ndarray:
    """The points of a CSV written by :func:`write_constellation_csv`, in label order."""
    try:
        with Path(path).open(newline="") as f:
            rows = list(csv.DictReader(f))
        points = np.zeros(len(rows), dtype=np.complex64)
        for row in rows:
            points[int(row["index"])] = complex(float(row["real"]), float(row["imag"]))
    except FileNotFoundError:
        raise MfcommError(f"{path}: no such file") from None
    except (KeyError, ValueError, IndexError) as e:
        raise MfcommError(f"{path}: not a constellation CSV (index,label,real,imag): {e}") from None
    _bits(points)
    return points


def to_sionna_constellation(points: np.ndarray, device: str | None = None) -> Any:  # Sionna is untyped
    """A Sionna ``Constellation("custom", b, points)`` with the learned points and labelling."""
    points = np.asarray(points, dtype=np.complex64)
    return phy().mapping.Constellation("custom", _bits(points), points=points, device=device)


def plot_labelled_constellation(points: np.ndarray, path: Path, title: str = "") -> None:
    """The points, each annotated with its bit label."""

    b = _bits(points)
    fig, ax = subplots(figsize=(6.2, 6.2))
    ax.scatter(points.real, points.imag, s=22, c="C0")
    for i, p in enumerate(points):
        ax.annotate(
            format(i, f"0{b}b"),
            (p.real, p.imag),
            fontsize=6 if b >= 6 else 8,
            ha="center",
            xytext=(0, 5),
            textcoords="offset points",
        )
    lim = 1.15 * max(np.abs(points).max(), 1e-6)
    ax.set(
        xlim=(-lim, lim),
        ylim=(-lim, lim),
        aspect="equal",
        xlabel="in-phase",
        ylabel="quadrature",
        title=title or f"learned constellation ({2**b} points, labels MSB first)",
    )
    ax.grid(alpha=0.3)
    save_figure(fig, path)

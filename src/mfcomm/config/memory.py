"""How much memory training a config takes, and a one-line refusal when the device has less free.

An estimate, not a measurement: weights with their gradients and Adam's moments, the codebook's activations,
the largest batch's activations through the receiver, and what an impairment chain's stages allocate on that
batch (:func:`mfcomm.channels.chain.memory`: a ``gnuradio`` stage's samples, ``tdl``'s taps, ``fiber``'s steps).
It lets a config with a batch, networks or a channel that cannot fit be refused before training starts rather
than fail (or swap) part way. Reading the free memory is the only thing here that looks at the machine. The
channel's estimate counts against the training device's memory, though a ``gnuradio`` stage's is the host's.

Example
-------
>>> mlp_parameters([4, 8, 2])  # 4*8 + 8 weights and biases, then 8*2 + 2
58
"""

from __future__ import annotations

import itertools
import os

import torch

from mfcomm.channels import chain
from mfcomm.channels import spec as channel_spec
from mfcomm.config.fields import EVAL_BATCH, Config
from mfcomm.errors import ConfigError, shown

try:
    import psutil
except ImportError:  # optional: the machine's physical memory stands in for its available memory
    psutil = None

FLOAT_BYTES = 4
OPTIMIZER_COPIES = 4
"""Copies of each weight during training: the weight, its gradient and Adam's two moments."""


def mlp_parameters(sizes: list[int]) -> int:
    """Weights and biases of dense layers of the given widths."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def available_bytes(device: str) -> int | None:
    """Memory free for ``device``: CUDA's free memory (:func:`torch.cuda.mem_get_info`), else the machine's
    available memory (psutil, where installed) or physical memory; None where it cannot be told."""
    if device.startswith("cuda"):
        try:
            return torch.cuda.mem_get_info(torch.device(device))[0] if torch.cuda.is_available() else None
        except (RuntimeError, AssertionError, ValueError):  # no such device: reported where it is used
            return None
    if psutil is not None:
        return int(psutil.virtual_memory().available)
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(needed: int, device: str, what: str, remedy: str) -> None:
    """A one-line ConfigError when the estimate ``needed`` (bytes) exceeds the memory ``device`` has free."""
    available = available_bytes(device)
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs about {needed / 2**30:.3g} GiB of memory, more than the "
            f"{available / 2**30:.3g} GiB available on {device}: {remedy}"
        )


def _rows(cfg: Config) -> int:
    """Messages in the largest batch: a receiver step's ``batch_size``, a transmitter step's ``tx_batch *
    perturbations`` transmissions, or an evaluation batch."""
    return max(cfg.batch_size, cfg.tx_batch * cfg.perturbations, EVAL_BATCH)


def channel_bytes(cfg: Config) -> int:
    """Rough peak memory of one call of an impairment chain on the largest batch (the bits task's: ``batch_size``
    codewords of ``symbols`` symbols); 0 for other channels (``awgn``, ``rbf``, a user's: the batch's own size,
    which the receiver's activations outweigh)."""
    if channel_spec.kind(cfg.channel) != "chain":
        return 0
    if cfg.task == "bits":
        return chain.memory(cfg.channel, cfg.batch_size, cfg.symbols)
    return chain.memory(cfg.channel, _rows(cfg), cfg.channel_uses)


def training_bytes(cfg: Config) -> int:
    """Rough peak memory of training: weights (with gradients and Adam's moments), the codebook's activations,
    the activations and their gradients of the largest batch (:func:`_rows`) through the receiver, with the
    logits over the M messages, and the channel's (:func:`channel_bytes`)."""
    dims = cfg.channel_uses if cfg.signalling == "real" else 2 * cfg.channel_uses
    rx_sizes = [2 * dims if cfg.use_equalizer else dims, *cfg.rx_hidden, cfg.messages]
    estimator = mlp_parameters([dims, cfg.rx_hidden[0] if cfg.rx_hidden else 2 * dims, 2]) if cfg.use_equalizer else 0
    tx_sizes = [*cfg.tx_hidden, dims]
    weights = cfg.messages * tx_sizes[0] + mlp_parameters(tx_sizes) + mlp_parameters(rx_sizes) + estimator
    codebook = cfg.messages * (2 * sum(tx_sizes) + dims)
    per_row = sum(rx_sizes) + sum(cfg.rx_hidden) + 2 * cfg.messages  # layer outputs, ReLUs, softmax
    model = FLOAT_BYTES * (OPTIMIZER_COPIES * weights + 2 * codebook + 2 * _rows(cfg) * per_row)
    return model + channel_bytes(cfg)


def bits_training_bytes(cfg: Config) -> int:
    """The bits task's :func:`training_bytes`: the demapper's weights (with gradients and Adam's moments), the
    activations and their gradients of ``batch_size`` codewords of ``symbols`` symbols through it, and the
    channel's (:func:`channel_bytes`)."""
    b = cfg.bits_per_symbol or 1
    sizes = [3, *cfg.rx_hidden, b]
    rows = cfg.batch_size * cfg.symbols
    per_row = sum(sizes) + sum(cfg.rx_hidden) + 4 * b + 8  # layers, ReLUs, bits, BCE, symbols
    model = FLOAT_BYTES * (OPTIMIZER_COPIES * mlp_parameters(sizes) + 2 * rows * per_row)
    return model + channel_bytes(cfg)


def check_training_memory(cfg: Config) -> None:
    """Refuse a config whose training (:func:`training_bytes`) cannot fit in the memory free on its device; the
    one line names the channel when its stages take most of that memory."""
    if cfg.task == "bits":
        needed = bits_training_bytes(cfg)
        what = (
            f"training {cfg.messages} points with batch_size {cfg.batch_size} codewords of "
            f"{cfg.codeword_bits} bits and rx_hidden {cfg.rx_hidden}"
        )
        remedy = "use a smaller batch_size or codeword_bits, or narrower hidden layers"
    else:
        needed = training_bytes(cfg)
        what = (
            f"training M={cfg.messages}, n={cfg.channel_uses} with batch_size {cfg.batch_size}, "
            f"{cfg.perturbations} perturbation(s) of tx_batch {cfg.tx_batch} and rx_hidden {cfg.rx_hidden}"
        )
        remedy = "use a smaller batch_size, tx_batch_size or perturbations, or narrower hidden layers"
    if 2 * channel_bytes(cfg) > needed:
        what += f" through channel {shown(cfg.channel)}"
        remedy += (
            ", or lighter channel stages (a smaller sps or payload, fewer fiber spans or steps, "
            "a smaller tdl delay_spread x bandwidth)"
        )
    check_memory(needed, cfg.device, what, remedy)

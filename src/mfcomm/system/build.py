"""A communication system's two networks: built for a configuration, stored and loaded as safetensors.

:func:`build_system` gives the transmitter and receiver a :class:`~mfcomm.config.fields.Config` describes, on its
device, started where ``cfg.init`` says (random weights, the classical codebook, or an earlier run's
weights); :func:`save_modules` and :func:`load_modules` store weights under a prefix per network
(``tx.*``, ``rx.*``) without pickling anything. The training loops, the nodes and the baselines all build
their networks here, so that one configuration and seed give the same system everywhere.

Example
-------
>>> import torch
>>> from mfcomm.config.files import configure
>>> tx, rx = build_system(configure(overrides={"messages": 16, "channel_uses": 2}))
>>> x = tx(torch.arange(16))
>>> x.shape, x.dtype, rx(x).shape
(torch.Size([16, 2]), torch.complex64, torch.Size([16, 16]))
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mfcomm.config.fields import Config
from mfcomm.errors import MfcommError, shorten
from mfcomm.system import initial as initial_system
from mfcomm.system.receiver import Receiver
from mfcomm.system.transmitter import Transmitter

WEIGHTS = "model.safetensors"
"""The weights' file name in a run directory."""


def device_of(cfg: Any) -> torch.device:
    """The torch device, or a one-line error when CUDA is asked for and absent."""
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise MfcommError(f"device {cfg.device} requested but CUDA is not available (use --device cpu)")
    return torch.device(cfg.device)


def build_transmitter(cfg: Config, start: bool = True) -> Transmitter:
    """A transmitter for ``cfg`` on its device, initialised from torch's global generator, then (``start``)
    set to where ``cfg.init`` says training starts: the classical codebook or an earlier run's weights."""
    tx = Transmitter(cfg.messages, cfg.channel_uses, cfg.tx_hidden, cfg.normalization, cfg.signalling == "real")
    if start and cfg.init == "classical":
        initial_system.start_classical(tx, cfg)
    elif start and cfg.init != "random":
        load_modules(initial_system.start_run(cfg) / WEIGHTS, {"tx": tx}, torch.device("cpu"))
    return tx.to(device_of(cfg))


def build_receiver(cfg: Config, start: bool = True) -> Receiver:
    """A receiver for ``cfg`` on its device, initialised from torch's global generator, or (``start`` with
    ``cfg.init`` a run directory) from that run's receiver."""
    rx = Receiver(cfg.messages, cfg.channel_uses, cfg.rx_hidden, cfg.use_equalizer, cfg.signalling == "real")
    if start and cfg.init not in ("random", "classical"):
        load_modules(initial_system.start_run(cfg) / WEIGHTS, {"rx": rx}, torch.device("cpu"))
    return rx.to(device_of(cfg))


def build_system(cfg: Config, start: bool = True) -> tuple[Transmitter, Receiver]:
    """Transmitter and receiver for ``cfg`` on its device (see :func:`build_transmitter`)."""
    tx = build_transmitter(cfg, start)
    return tx, build_receiver(cfg, start)


def bytes_needed(cfg: Config) -> int:
    """Disk space a run needs, roughly: its checkpoint (weights and two Adam moments), final weights, figures."""
    with torch.random.fork_rng(devices=[]):
        tx = Transmitter(cfg.messages, cfg.channel_uses, cfg.tx_hidden, cfg.normalization, cfg.signalling == "real")
        rx = Receiver(cfg.messages, cfg.channel_uses, cfg.rx_hidden, cfg.use_equalizer, cfg.signalling == "real")
    weights = 4 * sum(p.numel() for m in (tx, rx) for p in m.parameters())
    return 5 * weights + 8 * 2**20


def save_modules(path: Path, modules: dict[str, torch.nn.Module], metadata: dict[str, str] | None = None) -> None:
    """Each module's weights under its name as prefix (``tx.*``, ``rx.*``) as safetensors, written then renamed."""
    weights = {f"{name}.{k}": v for name, module in modules.items() for k, v in module.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp, metadata=metadata)
    os.replace(tmp, path)


def load_modules(path: Path, modules: dict[str, torch.nn.Module], device: torch.device) -> None:
    """Load weights written by :func:`save_modules` into ``modules`` (safetensors: nothing is unpickled); a
    corrupt file, weights of another shape, or weights that are not finite (checked before any is loaded) are
    one MfcommError line."""
    try:
        weights = load_file(path, device=str(device))
    except Exception as err:  # noqa: BLE001 - corrupt file: one line, not a traceback
        raise _cannot_load(path, err) from None
    bad = [k for k, v in weights.items() if (v.is_floating_point() or v.is_complex()) and not v.isfinite().all()]
    if bad:
        raise MfcommError(f"{path}: cannot load weights: {shorten(bad[0])} holds values that are not finite")
    try:
        for name, module in modules.items():
            module.load_state_dict({k[len(name) + 1 :]: v for k, v in weights.items() if k.startswith(f"{name}.")})
    except Exception as err:  # noqa: BLE001 - mismatched file: one line, not a traceback
        raise _cannot_load(path, err) from None


def _cannot_load(path: Path, err: Exception) -> MfcommError:
    """One line for ``err``, whose message may have several (``load_state_dict``'s has one per key)."""
    return MfcommError(
        f"{path}: cannot load weights ({shorten(' '.join(f'{type(err).__name__}: {err}'.split()), 200)})"
    )


def finished_run_dir(run_dir: str | Path, what: str = "run") -> Path:
    """``run_dir`` if it holds ``config.toml`` and the weights, else a one-line error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise MfcommError(f"run directory {run_dir} not found")
    for name in ("config.toml", WEIGHTS):
        if not (run_dir / name).is_file():
            raise MfcommError(f"{run_dir} is not a finished {what}: {name} is missing")
    return run_dir

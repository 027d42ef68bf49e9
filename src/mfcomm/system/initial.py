"""Where training starts: a random system, the classical codebook, or an earlier run.

``classical`` sets the transmitter to the same-rate classical codebook that evaluation's baselines use
(:func:`mfcomm.system.baselines.classical_baseline`: QAM or PSK per channel use, BPSK per real use, Hamming(7,4)
for AE(7,4), a pilot-aided code on block fading), so training starts at the textbook system's SER rather than
far above it. A run directory with the same M, n and networks starts both networks from its weights: train
model-based on a simulator, then model-free on the real channel from there (the sim-to-real path).

Example
-------
>>> from mfcomm.config.files import configure
>>> from mfcomm.system.transmitter import Transmitter
>>> cfg = configure(overrides={"messages": 16, "channel_uses": 2, "init": "classical"})
>>> tx = Transmitter(16, 2)
>>> start_classical(tx, cfg)
>>> sorted({round(v, 4) for v in torch.view_as_real(tx.codebook().detach()).flatten().tolist()})
[-0.7071, 0.7071]
"""

from __future__ import annotations

from pathlib import Path

import torch

from mfcomm.channels.spec import has_fading
from mfcomm.config.fields import Config
from mfcomm.config.files import configure
from mfcomm.errors import ConfigError
from mfcomm.system.baselines import classical_baseline
from mfcomm.system.transmitter import Transmitter

FIT_STEPS = 500
"""Adam steps that fit a transmitter with hidden layers to the classical codebook."""


def classical_codebook(cfg: Config) -> torch.Tensor:
    """The same-rate classical codebook (M, n) complex64, or a one-line error where none exists."""
    baseline = classical_baseline(cfg.messages, cfg.channel_uses, cfg.signalling, has_fading(cfg.channel))
    if baseline is None:
        raise ConfigError(
            f"init classical: no classical code of {cfg.messages} messages in {cfg.channel_uses} "
            f"{cfg.signalling} channel uses (QAM/PSK need log2(M) divisible by n)"
        )
    return baseline.codebook


def start_classical(tx: Transmitter, cfg: Config) -> None:
    """Set ``tx`` (on the CPU) so that its normalised codebook is the classical one: the embedding itself
    for a plain codebook, else a least-squares fit of the hidden layers (deterministic from the seed)."""
    target = classical_codebook(cfg).to(tx.embedding.weight.device)
    target = target.real if tx.real else torch.view_as_real(target).reshape(cfg.messages, -1)
    with torch.no_grad():
        if not cfg.tx_hidden:
            tx.embedding.weight.copy_(target)
            return
    opt = torch.optim.Adam(tx.parameters(), lr=1e-2)
    with torch.enable_grad():  # the fit needs gradients even where the caller builds under no_grad
        for _ in range(FIT_STEPS):
            codebook = tx.codebook()
            got = codebook.real if tx.real else torch.view_as_real(codebook).reshape(cfg.messages, -1)
            loss = (got - target).square().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def start_run(cfg: Config) -> Path:
    """The run directory ``cfg.init`` names, checked to hold a system of the same shape as ``cfg``'s."""
    run_dir = Path(cfg.init)
    if not (run_dir / "config.toml").is_file() or not (run_dir / "model.safetensors").is_file():
        raise ConfigError(
            f"init {cfg.init!r}: use random, classical or a finished run directory "
            "(with config.toml and model.safetensors)"
        )
    earlier = configure(run_dir / "config.toml", trust=True)  # only its shapes are compared: nothing is run
    for key in ("messages", "channel_uses", "signalling", "tx_hidden", "rx_hidden", "use_equalizer"):
        if getattr(earlier, key) != getattr(cfg, key):
            raise ConfigError(
                f"init {cfg.init}: its {key} is {getattr(earlier, key)}, this run's is "
                f"{getattr(cfg, key)}; a run can only start from a system of the same shape"
            )
    return run_dir

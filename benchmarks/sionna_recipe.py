"""The model-free recipe of Sionna's tutorial "End-to-end Learning with Autoencoders", on Sionna 2 (PyTorch).

A re-implementation of the tutorial's ``E2ESystemRLTraining`` and ``rl_based_training`` for the peer
benchmark (``benchmarks/tutorial.py``), kept as close to the notebook as PyTorch allows:

- 64 trainable points initialised from 64-QAM, a Sionna ``Constellation("custom", normalize=True,
  center=True)`` fed from two real weight vectors, Sionna's ``Mapper``, ``AWGN`` and ``ebnodb2no``;
- the neural demapper: dense 128 (ReLU), 128 (ReLU), 6 on ``[Re y, Im y, log10 N0]``;
- batches of 128 codewords of 1500 coded bits, Eb/N0 drawn uniformly in [4, 8] dB per codeword;
- perturbation ``x_p = x + eps``, ``eps ~ CN(0, 0.01)``; transmitter loss ``mean(-bce |x_p - x|^2 / 0.01)``
  with ``bce`` the per-symbol BCE (stopped gradient);
- 7,000 iterations of 10 receiver steps then 1 transmitter step, then 3,000 receiver fine-tuning steps,
  each optimiser Adam with Keras' defaults (learning rate 1e-3, eps 1e-7).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Recipe:
    """The tutorial's constants."""

    bits_per_symbol: int = 6
    codeword_bits: int = 1500
    code_rate: float = 0.5
    ebno_db_min: float = 4.0
    ebno_db_max: float = 8.0
    batch_size: int = 128
    alternating_iterations: int = 7000
    rx_steps_per_iteration: int = 10
    finetune_iterations: int = 3000
    perturbation_variance: float = 0.01

    @property
    def symbols(self) -> int:
        return self.codeword_bits // self.bits_per_symbol


class RecipeDemapper(nn.Module):
    """The tutorial's ``NeuralDemapper``."""

    def __init__(self, bits_per_symbol: int):
        super().__init__()
        self.dense_1, self.dense_2 = nn.Linear(3, 128), nn.Linear(128, 128)
        self.dense_3 = nn.Linear(128, bits_per_symbol)

    def forward(self, y: torch.Tensor, no: torch.Tensor) -> torch.Tensor:
        no_db = torch.log10(no).expand(y.shape)
        z = torch.stack([y.real, y.imag, no_db], dim=2)
        return self.dense_3(F.relu(self.dense_2(F.relu(self.dense_1(z)))))


class RecipeSystem(nn.Module):
    """The tutorial's ``E2ESystemRLTraining`` in training mode."""

    def __init__(self, recipe: Recipe, device: str):
        super().__init__()
        from mfcomm.evaluation.coded import sionna_device
        from mfcomm.sionna_import import phy

        mapping = phy().mapping
        self.recipe, self.device = recipe, device
        device = sionna_device(device)
        qam_points = mapping.Constellation("qam", recipe.bits_per_symbol, device=device).points
        self.constellation = mapping.Constellation("custom", recipe.bits_per_symbol, points=qam_points, normalize=True,
                                           center=True, device=device)
        self.points_r = nn.Parameter(qam_points.real.clone())
        self.points_i = nn.Parameter(qam_points.imag.clone())
        self.mapper = mapping.Mapper(constellation=self.constellation, device=device)
        self.binary_source = mapping.BinarySource(device=device)
        self.channel = phy().channel.AWGN(device=device)
        self.demapper = RecipeDemapper(recipe.bits_per_symbol).to(device)

    def forward(self, perturbation_variance: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: returns ``(tx_loss, rx_loss)`` as the notebook's ``call`` does."""
        from mfcomm.sionna_import import phy

        r = self.recipe
        ebno_db = r.ebno_db_min + (r.ebno_db_max - r.ebno_db_min) * torch.rand(r.batch_size, device=self.device)
        no = phy().utils.ebnodb2no(ebno_db, r.bits_per_symbol, r.code_rate).unsqueeze(1)
        c = self.binary_source([r.batch_size, r.codeword_bits])
        self.constellation.points = torch.complex(self.points_r, self.points_i)
        x = self.mapper(c)
        eps = torch.complex(torch.randn_like(x.real), torch.randn_like(x.real)) * (0.5 * perturbation_variance) ** 0.5
        x_p = x + eps
        y = self.channel(x_p, no).detach()
        llr = self.demapper(y, no)
        c = c.view(-1, r.symbols, r.bits_per_symbol)
        bce = F.binary_cross_entropy_with_logits(llr, c, reduction="none").mean(dim=2)
        rx_loss = bce.mean()
        p = x_p.detach() - x
        tx_loss = (-bce.detach() * (p.real.square() + p.imag.square()) / r.perturbation_variance).mean()
        return tx_loss, rx_loss

    def points(self) -> torch.Tensor:
        """The normalised, centred constellation (index = label)."""
        self.constellation.points = torch.complex(self.points_r, self.points_i)
        return self.constellation().detach()


def adam(params) -> torch.optim.Adam:
    """Keras' default Adam."""
    return torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)


def train_recipe(system: RecipeSystem) -> float:
    """``rl_based_training``: alternating receiver and transmitter steps, then receiver fine-tuning.
    Returns the wall-clock training seconds."""
    r = system.recipe
    opt_rx = adam(system.demapper.parameters())
    opt_tx = adam([system.points_r, system.points_i])

    def train_rx() -> None:
        _, rx_loss = system()
        opt_rx.zero_grad(set_to_none=True)
        rx_loss.backward()
        opt_rx.step()

    def train_tx() -> None:
        tx_loss, _ = system(r.perturbation_variance)
        opt_tx.zero_grad(set_to_none=True)
        tx_loss.backward()
        opt_tx.step()

    start = time.perf_counter()
    for _ in range(r.alternating_iterations):
        for _ in range(r.rx_steps_per_iteration):
            train_rx()
        train_tx()
    for _ in range(r.finetune_iterations):
        train_rx()
    if system.device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - start

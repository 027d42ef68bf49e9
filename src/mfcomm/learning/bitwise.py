"""Training bit-wise systems, model-based and model-free, over a range of SNRs.

Every step sends ``batch`` codewords' worth of random coded bits (``symbols`` symbols each; the outer code
is not needed for training, as in Sionna's tutorial) and draws each codeword's Eb/N0 uniformly from the
training range. The data flow is the symbol-wise one (:mod:`mfcomm.learning.model_free`) with a symbol as the
example: bits -> constellation -> perturbation -> channel -> neural demapper -> per-symbol BCE ->
feedback link -> baseline -> the Eq. 8 estimator.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mfcomm.channels import Channel, Sampler, complex_normal
from mfcomm.conventions import ebno_db_to_n0
from mfcomm.experiment.bitwise_config import BitwiseConfig
from mfcomm.learning.estimator import LossBaseline, geometric, perturb
from mfcomm.learning.feedback import FeedbackLink
from mfcomm.learning.model_based import train_jointly
from mfcomm.learning.model_free import Log, accumulate_estimate, alternate, learn_from
from mfcomm.system.bitwise import LearnedConstellation, NeuralDemapper, bits_to_indices, symbol_bce

BitChannel = Sampler[tuple[torch.Tensor, torch.Tensor]]
"""``(y, n0) = channel(x)``: received symbols and the noise variance the demapper is told, per row. The bit-wise
channels count no channel uses: :class:`~mfcomm.channels.Counted` wraps them (:mod:`mfcomm.experiment.bitwise_runs`)."""


class AwgnEbnoRange:
    """AWGN whose Eb/N0 is drawn uniformly in ``[low, high]`` dB once per row (codeword).

    ``bits_per_symbol * code_rate`` information bits per channel use set N0 (Sionna's ``ebnodb2no``).
    """

    differentiable = True

    def __init__(
        self, low: float, high: float, bits_per_symbol: int, code_rate: float, generator: torch.Generator | None = None
    ):
        self.low, self.high, self.generator = low, high, generator
        self.info_bits = bits_per_symbol * code_rate
        self.name = f"awgn(Eb/N0 {low:g}..{high:g} dB)"

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = torch.rand(x.shape[0], 1, device=x.device, generator=self.generator)
        ebno_db = self.low + (self.high - self.low) * u
        n0 = 1.0 / (10.0 ** (ebno_db / 10.0) * self.info_bits)
        return x + complex_normal(tuple(x.shape), 1.0, x.device, self.generator) * n0.sqrt(), n0


class FixedNoise:
    """Any :class:`~mfcomm.channels.Channel` at one known N0 (for chains and black boxes)."""

    def __init__(self, channel: Channel, n0: float):
        self.channel, self.n0 = channel, n0
        self.name, self.differentiable = channel.name, channel.differentiable

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.channel(x), torch.full((x.shape[0], 1), self.n0, device=x.device)


def fixed_ebno(channel: Channel, ebno_db: float, bits_per_symbol: int, code_rate: float) -> FixedNoise:
    """``channel`` with the N0 of Eb/N0 = ``ebno_db`` dB told to the demapper."""
    return FixedNoise(channel, ebno_db_to_n0(ebno_db, bits_per_symbol * code_rate, 1))


def random_bits(batch: int, symbols: int, bits_per_symbol: int, device: torch.device | str) -> torch.Tensor:
    """Uniform coded bits, (batch, symbols, b) float."""
    return torch.randint(0, 2, (batch, symbols, bits_per_symbol), device=device).float()


def receiver_step(
    const: LearnedConstellation,
    demapper: NeuralDemapper,
    channel: BitChannel,
    opt: torch.optim.Optimizer,
    batch: int,
    symbols: int,
    joint: bool = False,
) -> torch.Tensor:
    """One step on the mean BCE: the demapper's supervised step (the transmitter held fixed), or with
    ``joint`` a model-based step that back-propagates through the channel into the constellation too."""
    bits = random_bits(batch, symbols, const.bits_per_symbol, const.raw.device)
    with torch.set_grad_enabled(joint):
        x = const(bits_to_indices(bits))
        y, n0 = channel(x)
    loss = symbol_bce(demapper(y, n0), bits).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def transmitter_step(
    const: LearnedConstellation,
    demapper: NeuralDemapper,
    channel: BitChannel,
    opt: torch.optim.Optimizer,
    batch: int,
    symbols: int,
    sigma2: float,
    baseline: LossBaseline,
    feedback: FeedbackLink,
    rx_opt: torch.optim.Optimizer | None = None,
) -> torch.Tensor:
    """One step on the Eq. 8 estimate from per-symbol BCEs fed back; returns their mean.

    With ``rx_opt`` the demapper also learns from these transmissions, after computing the losses it feeds back.
    """
    bits = random_bits(batch, symbols, const.bits_per_symbol, const.raw.device)
    indices = bits_to_indices(bits)
    xbar = const(indices).reshape(-1, 1)  # transmitter
    x_p = perturb(xbar, sigma2)  # perturbation
    with torch.no_grad():
        y, n0 = channel(x_p.view(batch, symbols))  # channel (sampled only)
    with torch.set_grad_enabled(rx_opt is not None):
        losses = learn_from(symbol_bce(demapper(y, n0), bits), rx_opt)  # receiver: per-symbol BCE
    fed_back = feedback(losses.flatten()).view(-1, 1)  # feedback link: scalars only
    opt.zero_grad(set_to_none=True)
    accumulate_estimate(fed_back, indices.flatten(), x_p, xbar, sigma2, baseline, False)  # baseline, Eq. 8
    opt.step()
    return fed_back.mean()


def train_bitwise(
    const: LearnedConstellation,
    demapper: NeuralDemapper,
    channel: BitChannel,
    cfg: BitwiseConfig,
    log: Log,
    progress: Callable[[int], None] = lambda _: None,
) -> None:
    """Train with ``cfg.method``: model-based steps, or Algorithm 1 then receiver fine-tuning."""
    batch, symbols = cfg.batch_size, cfg.symbols
    if cfg.method == "model-based":
        train_jointly(
            const,
            demapper,
            channel,
            cfg,
            lambda opt: receiver_step(const, demapper, channel, opt, batch, symbols, joint=True),
            log,
            progress,
        )
        return
    opt_rx = torch.optim.Adam(demapper.parameters(), lr=cfg.rx_lr)
    opt_tx = torch.optim.Adam(const.parameters(), lr=cfg.tx_lr)
    baseline = LossBaseline(cfg.loss_baseline, 2**const.bits_per_symbol)
    feedback = FeedbackLink(cfg.feedback, cfg.feedback_bits, cfg.feedback_noise)

    def finetune_step(i: int) -> torch.Tensor:
        for group in opt_rx.param_groups:
            group["lr"] = geometric(i, cfg.finetune_iterations, cfg.rx_lr, cfg.rx_lr_final)
        return receiver_step(const, demapper, channel, opt_rx, batch, symbols)

    alternate(
        cfg,
        lambda: receiver_step(const, demapper, channel, opt_rx, batch, symbols),
        lambda sigma2: transmitter_step(
            const,
            demapper,
            channel,
            opt_tx,
            batch,
            symbols,
            sigma2,
            baseline,
            feedback,
            opt_rx if cfg.rx_on_tx_batch else None,
        ),
        log,
        progress,
        finetune_step=finetune_step,
    )

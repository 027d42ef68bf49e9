"""Field channel models from Sionna PHY, used as sampled channels (chain stages).

``tdl``: the 3GPP TR 38.901 tapped-delay-line model (Sionna's ``TDL`` and ``TimeChannel``). The n symbols
of a block are sent as n consecutive samples at ``bandwidth`` Hz through a channel impulse response drawn
afresh for every block (users at up to ``speed`` m/s), normalised to unit average energy over the block.
Of the convolution's output the n samples aligned with the block are kept: the symbols see the
inter-symbol interference of their own block, and what spills outside the block (the band-limited
taps' pre- and post-cursors) is dropped, so the received energy per symbol is below 1, the more so for
short blocks and wide delay spreads (at the defaults about 0.73 for n=2 and 0.93 for n=8). Add noise
with an ``awgn`` stage after it.

Both models draw from ``generator`` (the run's channel generator; None: torch's global generator), not from
Sionna's own unseeded generators: the same seed gives the same samples.

Example
-------
>>> import torch
>>> ch = TDL(model="A", delay_spread=100e-9)
>>> ch(torch.ones(3, 8, dtype=torch.complex64)).shape
torch.Size([3, 8])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from mfcomm.channels.contract import Channel
from mfcomm.channels.stage_bounds import check
from mfcomm.sionna_import import drawing_from, phy

TDL_MODELS = ("A", "B", "C", "D", "E", "A30", "B100", "C300")
TDL_PATHS, TDL_SINUSOIDS = 24, 20
"""The most paths of a TDL model (TDL-C), and the sinusoids of Sionna's sum-of-sinusoids fading of each."""
COMPLEX_BYTES = 8


class TDL:
    """3GPP TDL channel, sampled. Parameters: ``model`` (A-E, A30, B100, C300), ``delay_spread`` (s),
    ``bandwidth`` (Hz, the symbol rate), ``carrier_frequency`` (Hz), ``speed`` (m/s); ``generator``: where
    the channel responses are drawn from (None: torch's global generator for the input's device).
    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64. Differentiable in ``x`` (linear)."""

    differentiable = True

    def __init__(
        self,
        model: str = "A",
        delay_spread: float = 100e-9,
        bandwidth: float = 5e6,
        carrier_frequency: float = 3.5e9,
        speed: float = 0.0,
        generator: torch.Generator | None = None,
    ):
        from mfcomm.errors import ChannelError

        if model not in TDL_MODELS:
            raise ChannelError(f"channel stage tdl: model must be one of {', '.join(TDL_MODELS)}, not {model!r}")
        check("tdl", delay_spread=delay_spread, bandwidth=bandwidth, carrier_frequency=carrier_frequency, speed=speed)
        if delay_spread * bandwidth > 1e4:  # Sionna's filter would have 8 x that many taps
            raise ChannelError(
                f"channel stage tdl: delay_spread x bandwidth must be at most 1e4, not {delay_spread * bandwidth:g}"
            )
        self.model, self.delay_spread, self.bandwidth = model, delay_spread, bandwidth
        self.carrier_frequency, self.speed, self.generator = carrier_frequency, speed, generator
        self.name = (
            f"tdl(model={model},delay_spread={delay_spread:g},bandwidth={bandwidth:g},"
            f"carrier_frequency={carrier_frequency:g},speed={speed:g})"
        )
        self._channels: dict[tuple[int, str], Any] = {}  # Sionna TimeChannel blocks (untyped)

    def memory(self, rows: int, n: int) -> int:
        """Rough peak bytes of a call on (rows, n) symbols: the larger of Sionna's two big intermediates, one complex
        value per path, output sample and lag (the taps' sinc weights), or about 3 per sinusoid, path and sample
        (the fading), with ``ceil(8 delay_spread bandwidth) + 13`` lags (TimeChannel's). Measured: up to 25 % less
        with TDL-A, B and C (23 or 24 paths)."""
        lags = math.ceil(8 * self.delay_spread * self.bandwidth) + 13
        return COMPLEX_BYTES * rows * TDL_PATHS * (n + lags - 1) * max(lags + 8, 3 * TDL_SINUSOIDS)

    def _channel(self, n: int, device: torch.device) -> Any:
        key = (n, str(device))
        if key not in self._channels:  # Sionna's TimeChannel is built for a fixed block length
            channel = phy().channel
            model = channel.tr38901.TDL(
                self.model,
                self.delay_spread,
                self.carrier_frequency,
                min_speed=self.speed,
                max_speed=self.speed,
                device=str(device),
            )
            self._channels[key] = channel.TimeChannel(
                model,
                self.bandwidth,
                n,
                maximum_delay_spread=8 * self.delay_spread,
                normalize_channel=True,
                device=str(device),
            )
        return self._channels[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        channel = self._channel(n, x.device)
        with drawing_from(self.generator, x.device):
            y = channel(x[:, None, None, :])[:, 0, 0, :]
        start = -channel.l_min  # output sample j is time j + l_min
        return y[:, start : start + n].to(torch.complex64)


FIELD_MODELS: dict[str, Callable[..., Channel]] = {"tdl": TDL}


class Fiber:
    """Standard single-mode fibre with lumped amplification (Sionna's ``SSFM`` and ``EDFA``), sampled.

    The n symbols of a block are n samples at ``symbol_rate`` (one sample per symbol), launched at
    ``power_dbm`` per symbol; each of ``spans`` spans propagates ``length`` km by the split-step Fourier
    method (attenuation ``alpha`` 1/km, dispersion ``beta_2`` ps^2/km, Kerr nonlinearity ``gamma`` 1/(W km),
    ``steps`` steps) and an EDFA restores the span loss, adding amplified spontaneous emission with
    ``noise_figure_db``. The receiver side scales back by the launch amplitude. The noise is the EDFAs'
    own: use this stage without ``awgn``; launch power trades noise against nonlinearity. Dispersion acts
    on the block as on one period of a periodic signal (the FFT's boundary). The noise is drawn from
    ``generator`` (None: torch's global generator for the input's device). Differentiable in ``x``.
    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64.
    """

    differentiable = True

    def __init__(
        self,
        spans: int = 1,
        length: float = 80.0,
        power_dbm: float = 0.0,
        symbol_rate: float = 32e9,
        alpha: float = 0.046,
        beta_2: float = -21.67,
        gamma: float = 1.27,
        noise_figure_db: float = 5.0,
        steps: int = 20,
        generator: torch.Generator | None = None,
    ):
        check(
            "fiber",
            spans=spans,
            length=length,
            power_dbm=power_dbm,
            symbol_rate=symbol_rate,
            alpha=alpha,
            beta_2=beta_2,
            gamma=gamma,
            noise_figure_db=noise_figure_db,
            steps=steps,
        )
        self.spans, self.steps, self.generator = int(spans), int(steps), generator
        self.amplitude = math.sqrt(10 ** (power_dbm / 10) / 1000)  # sqrt of the launch power in W
        self.t_norm, self.period = 1e-12, 1.0 / symbol_rate
        self.params = {"alpha": alpha, "beta_2": beta_2, "gamma": gamma, "length": length}
        self.gain = math.exp(alpha * length)
        self.noise_figure = 10 ** (noise_figure_db / 10)
        self.name = (
            f"fiber(spans={spans:g},length={length:g},power_dbm={power_dbm:g},symbol_rate={symbol_rate:g},"
            f"alpha={alpha:g},beta_2={beta_2:g},gamma={gamma:g},noise_figure_db={noise_figure_db:g},"
            f"steps={steps:g})"
        )
        self._blocks: dict[str, tuple[Any, Any]] = {}  # Sionna SSFM and EDFA blocks (untyped)

    def memory(self, rows: int, n: int) -> int:
        """Rough peak bytes of a call on (rows, n) symbols with the gradient kept (model-based training): about six
        complex values a symbol for each step of each span, which autograd holds until the backward pass."""
        return COMPLEX_BYTES * rows * n * (8 + 6 * self.spans * (self.steps + 1))

    def _stages(self, device: torch.device) -> tuple[Any, Any]:
        key = str(device)
        if key not in self._blocks:
            optical = phy().channel.optical
            fiber = optical.SSFM(
                **self.params,
                n_ssfm=self.steps,
                sample_duration=self.period / self.t_norm,
                t_norm=self.t_norm,
                with_amplification=False,
                device=key,
            )
            amplifier = optical.EDFA(g=self.gain, f=self.noise_figure, dt=self.period, device=key)
            self._blocks[key] = (fiber, amplifier)
        return self._blocks[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        fiber, amplifier = self._stages(x.device)
        signal = x * self.amplitude
        with drawing_from(self.generator, x.device):
            for _ in range(self.spans):
                signal = amplifier(fiber(signal))
        return (signal / self.amplitude).to(torch.complex64)


FIELD_MODELS["fiber"] = Fiber

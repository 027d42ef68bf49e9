"""Hardware impairments, each a channel: ADC quantisation, PA non-linearities, phase noise, CFO, IQ imbalance.

Every class keeps the channel contract of :mod:`mfcomm.channels`: called on ``x``, a (batch, n) complex64
tensor (one message per row, its n symbols in order), it returns ``y`` of the same shape and dtype; it has
``name`` (its stage text, every parameter spelled out, so that it parses back to the same stage) and
``differentiable``. Random draws (phases, noise) use ``generator`` when given, on ``x``'s device.
Parameters out of range (:data:`mfcomm.channels.stage_bounds.BOUNDS`) raise a one-line
:class:`~mfcomm.errors.ChannelError` naming the stage and the parameter.
Compose them with additive noise in a chain (:mod:`mfcomm.channels.chain`): ``rapp(p=2,sat=1.2) | awgn | adc(bits=3)``.

``differentiable`` means "differentiable in ``x``": a stage that multiplies ``x`` by a random phasor drawn
independently of ``x`` (phase noise, CFO, random phase) is, as AWGN is; the quantiser is not (its
gradient is zero almost everywhere), so a chain holding one can only be trained model-free.

Example
-------
>>> import torch
>>> x = torch.tensor([[0.1 + 0.0j, 3.0 + 4.0j]], dtype=torch.complex64)
>>> ADC(bits=2, clip=1.0)(x)
tensor([[0.2500+0.2500j, 0.7500+0.7500j]])
>>> Rapp(p=2, sat=1.0)(x).abs().round(decimals=3)
tensor([[0.1000, 1.0000]])
>>> Rapp(p=2, sat=1.0).name
'rapp(p=2,sat=1)'
"""

from __future__ import annotations

import math

import torch

from mfcomm.channels.stage_bounds import check
from mfcomm.errors import ChannelError


def _text(value: float | bool) -> str:
    """A parameter value as the chain syntax writes it: ``true``/``false``, or the shortest exact number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if float(f"{value:g}") == value else repr(float(value))


def _stage_name(kind: str, **params: float | bool) -> str:
    return f"{kind}({','.join(f'{k}={_text(v)}' for k, v in params.items())})"


def _uniform(
    shape: tuple[int, ...], low: float, high: float, x: torch.Tensor, generator: torch.Generator | None
) -> torch.Tensor:
    """Float32 samples of U[low, high) on ``x``'s device."""
    return low + (high - low) * torch.rand(*shape, device=x.device, generator=generator)


def _rotate(x: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``x * exp(j phase)``; ``phase`` float32, broadcast against ``x``."""
    return x * torch.polar(torch.ones_like(phase), phase)


class ADC:
    """Uniform mid-rise quantiser of I and Q separately, ``bits`` bits each (an ideal ADC pair).

    With step ``d = 2 clip / 2^bits`` each real part ``v`` becomes ``d (floor(v/d) + 1/2)``, clipped to the
    outermost levels ``+-(clip - d/2)``: inputs beyond ``+-clip`` saturate. With ``agc`` (automatic gain
    control) each block (row) is first divided by its RMS amplitude ``sqrt(mean_k |x_k|^2)``, so ``clip``
    is in units of that RMS; the output stays at that normalised scale. Not differentiable (piecewise
    constant), unless ``ste``: the straight-through surrogate (Bengio et al. 2013) quantises in the forward
    pass and passes the gradient of the clipping alone backwards, so that model-based training can run on
    the surrogate for comparison.
    """

    differentiable = False

    def __init__(
        self,
        bits: int = 3,
        clip: float = 1.5,
        agc: bool = False,
        ste: bool = False,
        generator: torch.Generator | None = None,
    ):
        if not float(bits).is_integer():
            raise ChannelError(f"channel stage adc: bits must be an integer, not {bits}")
        check("adc", bits=bits, clip=clip)
        self.bits, self.clip, self.agc, self.ste = int(bits), float(clip), bool(agc), bool(ste)
        self.differentiable = self.ste
        self.step = 2 * self.clip / 2**self.bits
        self.name = _stage_name("adc", bits=self.bits, clip=self.clip, agc=self.agc, ste=self.ste)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.agc:
            rms = x.abs().square().mean(dim=1, keepdim=True).sqrt()
            x = x / torch.where(rms > 0, rms, torch.ones_like(rms))
        top = self.clip - self.step / 2
        v = torch.view_as_real(x)
        q = (self.step * (torch.floor(v / self.step) + 0.5)).clamp(-top, top)
        if self.ste:  # forward: q; backward: the gradient of v clipped to the quantiser's range
            clipped = v.clamp(-top, top)
            q = clipped + (q - clipped).detach()
        return torch.view_as_complex(q.contiguous())


class Rapp:
    """Rapp's solid-state power amplifier model (Rapp 1991), AM/AM only: the phase is kept and

    ``|y| = |x| / (1 + (|x| / sat)^(2p))^(1/(2p))``: about ``|x|`` for ``|x| << sat``, saturating at ``sat``;
    ``p`` (smoothness) > 0, larger is closer to an ideal limiter. Differentiable (smooth for ``|x| > 0``).
    """

    differentiable = True

    def __init__(self, p: float = 2.0, sat: float = 1.0, generator: torch.Generator | None = None):
        check("rapp", p=p, sat=sat)
        self.p, self.sat = float(p), float(sat)
        self.name = _stage_name("rapp", p=self.p, sat=self.sat)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        power = (x.real.square() + x.imag.square()) / self.sat**2  # (|x| / sat)^2
        return x * (1 + power.pow(self.p)).pow(-1 / (2 * self.p))


class Saleh:
    """Saleh's travelling-wave tube amplifier model (Saleh 1981), AM/AM and AM/PM: with ``r = |x|``,

    ``|y| = aa r / (1 + ba r^2)`` and ``arg y = arg x + ap r^2 / (1 + bp r^2)`` (radians). Defaults: Saleh's
    fitted values (aa 2.1587, ba 1.1517, ap 4.0033, bp 9.1040); the output peaks at ``aa / (2 sqrt(ba))`` for
    ``r = 1/sqrt(ba)``. Differentiable.
    """

    differentiable = True

    def __init__(
        self,
        aa: float = 2.1587,
        ba: float = 1.1517,
        ap: float = 4.0033,
        bp: float = 9.1040,
        generator: torch.Generator | None = None,
    ):
        check("saleh", aa=aa, ba=ba, ap=ap, bp=bp)
        self.aa, self.ba, self.ap, self.bp = float(aa), float(ba), float(ap), float(bp)
        self.name = _stage_name("saleh", aa=self.aa, ba=self.ba, ap=self.ap, bp=self.bp)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        r2 = x.real.square() + x.imag.square()
        gain = self.aa / (1 + self.ba * r2)
        return _rotate(x * gain, self.ap * r2 / (1 + self.bp * r2))


class PhaseNoise:
    """Wiener (random-walk) phase noise of an oscillator with 3 dB linewidth ``beta`` (Demir et al. 2000).

    Within each block ``phi_0 = 0`` and ``phi_k = phi_(k-1) + e_k``, ``e_k ~ N(0, 2 pi linewidth)`` i.i.d.,
    where ``linewidth = beta Ts`` (normalised to the symbol rate); ``y_k = x_k exp(j phi_k)``. Blocks are
    independent; the first symbol is the phase reference (add ``phase`` for a common random phase).
    Differentiable in ``x`` (a multiplication by a phasor independent of ``x``).
    """

    differentiable = True

    def __init__(self, linewidth: float = 1e-3, generator: torch.Generator | None = None):
        check("phase_noise", linewidth=linewidth)
        self.linewidth, self.generator = float(linewidth), generator
        self.name = _stage_name("phase_noise", linewidth=self.linewidth)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.randn(x.shape[0], x.shape[1] - 1, device=x.device, generator=self.generator)
        steps = steps * math.sqrt(2 * math.pi * self.linewidth)
        phase = torch.cat([torch.zeros_like(steps[:, :1]), steps.cumsum(dim=1)], dim=1)
        return _rotate(x, phase)


class CFO:
    """Carrier frequency offset: ``y_k = x_k exp(j (2 pi offset k + theta))``, ``k = 0..n-1`` in each block.

    ``offset`` is normalised to the symbol rate (``delta_f Ts``), ``|offset| <= 0.5``; ``theta = 0``, or
    with ``random_phase`` uniform in [0, 2 pi) per block. Differentiable in ``x``.
    """

    differentiable = True

    def __init__(self, offset: float = 0.01, random_phase: bool = False, generator: torch.Generator | None = None):
        check("cfo", offset=offset)
        self.offset, self.random_phase, self.generator = float(offset), bool(random_phase), generator
        self.name = _stage_name("cfo", offset=self.offset, random_phase=self.random_phase)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        phase = 2 * math.pi * self.offset * torch.arange(x.shape[1], device=x.device, dtype=torch.float32)
        if self.random_phase:
            phase = phase + _uniform((x.shape[0], 1), 0.0, 2 * math.pi, x, self.generator)
        return _rotate(x, phase)


class IQImbalance:
    """Receiver IQ imbalance (Tarighat et al. 2005): ``y = mu x + nu conj(x)`` with, for gain ``g =
    10^(amplitude_db/20)`` and phase ``phi`` (``phase_deg`` in radians), ``mu = (1 + g exp(-j phi)) / 2`` and
    ``nu = (1 - g exp(j phi)) / 2``: the I branch is kept, the Q branch is scaled by ``g`` and skewed by
    ``phi``, ``y = Re x + j g (Im x cos phi - Re x sin phi)``. Differentiable.
    """

    differentiable = True

    def __init__(self, amplitude_db: float = 0.5, phase_deg: float = 5.0, generator: torch.Generator | None = None):
        check("iq", amplitude_db=amplitude_db, phase_deg=phase_deg)
        self.amplitude_db, self.phase_deg = float(amplitude_db), float(phase_deg)
        g, phi = 10 ** (self.amplitude_db / 20), math.radians(self.phase_deg)
        self.mu = complex((1 + g * math.cos(phi)) / 2, -g * math.sin(phi) / 2)
        self.nu = complex((1 - g * math.cos(phi)) / 2, -g * math.sin(phi) / 2)
        self.name = _stage_name("iq", amplitude_db=self.amplitude_db, phase_deg=self.phase_deg)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.mu * x + self.nu * x.conj()


class RandomPhase:
    """A random phase per block (an unsynchronised carrier): ``y = x exp(j theta)``, ``theta`` uniform in
    ``[-max_deg, max_deg]`` degrees, once per row, ``0 <= max_deg <= 180``. Differentiable in ``x``.
    """

    differentiable = True

    def __init__(self, max_deg: float = 15.0, generator: torch.Generator | None = None):
        check("phase", max_deg=max_deg)
        self.max_deg, self.generator = float(max_deg), generator
        self.name = _stage_name("phase", max_deg=self.max_deg)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        bound = math.radians(self.max_deg)
        return _rotate(x, _uniform((x.shape[0], 1), -bound, bound, x, self.generator))


IMPAIRMENTS = {
    "adc": ADC,
    "rapp": Rapp,
    "saleh": Saleh,
    "phase_noise": PhaseNoise,
    "cfo": CFO,
    "iq": IQImbalance,
    "phase": RandomPhase,
}
"""Stage name in the chain syntax -> class; the keyword parameters of its constructor are the stage's."""

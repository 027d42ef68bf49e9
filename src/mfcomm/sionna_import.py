"""Sionna PHY, imported lazily and without disturbing torch's random state.

Importing ``sionna.phy`` builds its config, which re-seeds torch's global CPU and CUDA generators from
entropy (unless ``sionna.phy.config.seed`` is set): a run seeded with ``torch.manual_seed`` that imported
Sionna midway would not be reproducible. :func:`phy` imports it once, about 4 s, with the generators'
states saved and restored; every module of mfcomm reaches Sionna through it.

Sionna's blocks draw from Sionna's own per-device generators (``sionna.phy.config.torch_rng``), seeded
from entropy. Setting ``sionna.phy.config.seed`` would fix them, but it also re-seeds torch's global
generators, which a library must not do behind a run's back; :func:`drawing_from` instead lends a
generator of the run's to Sionna for the duration of a block's call.

Example
-------
>>> import torch
>>> _ = torch.manual_seed(0); expected = torch.rand(1)
>>> _ = torch.manual_seed(0); constellation = phy().mapping.Constellation("qam", 2)
>>> torch.equal(torch.rand(1), expected)
True
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch


def phy() -> ModuleType:
    """The ``sionna.phy`` package (its submodules ``mapping``, ``fec``, ``channel``, ... loaded with it)."""
    if "sionna.phy" not in sys.modules:
        cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=cuda):
            import sionna.phy  # noqa: F401
    return sys.modules["sionna.phy"]


@contextmanager
def drawing_from(generator: torch.Generator | None, device: torch.device) -> Iterator[None]:
    """Inside the ``with``, Sionna's draws on ``device`` come from ``generator`` (None: torch's global
    generator for ``device``), so that the run's seed fixes them.

    Sionna's generator for ``device`` takes ``generator``'s state on entry; on exit ``generator`` takes the
    advanced state and Sionna's gets its own back: the draws continue ``generator``'s stream, and Sionna's
    stream is left as it was. ``generator`` must be on ``device``.
    """
    if generator is None:
        generator = torch.default_generator if device.type == "cpu" else torch.cuda.default_generators[device.index]
    sionna = phy().config.torch_rng(str(device))
    own = sionna.get_state()
    sionna.set_state(generator.get_state())
    try:
        yield
    finally:
        generator.set_state(sionna.get_state())
        sionna.set_state(own)

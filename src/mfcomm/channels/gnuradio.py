"""GNU Radio as the channel: symbols streamed through a GNU Radio 3.10 flowgraph over ZMQ, as to a radio.

The chain stage ``gnuradio(flowgraph=PATH, key=value, ..., sync, payload)`` runs any flowgraph that keeps the
contract below: a Python top block as GNU Radio Companion generates it (or one written by hand), or a ``.grc``
file (compiled with ``grcc`` into a temporary directory first). Without ``flowgraph=``, it runs the built-in
:mod:`mfcomm.channels.flowgraphs.gr_channel` (GNU Radio's ``channel_model``) with the keys ``snr_db``,
``freq_offset``, ``epsilon``, ``taps`` and ``seed``. The flowgraph starts under the system Python
(``/usr/bin/python3``, or ``$MFCOMM_GR_PYTHON``) on the stage's first call and stops when the process exits.
With ``engine=python`` (not with ``flowgraph=``) the built-in channel model streams through its NumPy emulation in
this process instead (:mod:`mfcomm.channels.stream_model`; no GNU Radio needed), behind the same front-end.

The contract:

- the top block takes the options ``--in-address`` and ``--out-address`` (in GRC: Parameter blocks
  ``in_address`` and ``out_address`` of type String);
- a ZMQ PULL Source of complex items connects to ``in_address``; a ZMQ PUSH Sink of complex items binds
  ``out_address`` (GNU Radio's defaults for those blocks: vector length 1, no tags);
- mfcomm binds its PUSH socket at ``in_address`` on 127.0.0.1, picks a free 127.0.0.1 port for ``out_address``,
  and passes every stage key that is not mfcomm's own (:data:`OWN_KEYS`) as ``--key=value`` (underscores
  become dashes: ``noise_voltage=0.1`` is ``--noise-voltage=0.1``, what GRC makes of a Parameter block);
- the flowgraph runs until its stdin closes (GRC's ``input('Press Enter to quit: ')``), or SIGTERM; mfcomm
  then SIGKILLs its process group. It never outlives mfcomm (see :mod:`mfcomm.channels.flowgraph_process`).

A flowgraph that fails to start, exits, crashes, sends nothing back within the stage's ``timeout``
(``--channel-timeout``) or sends something in which no frame is found gives one ChannelError line (naming the
flowgraph, with its last line of stderr) and is stopped; the next call starts it again.

Each call's (batch, n) symbols are flattened row by row, cut into frames of ``payload`` symbols
(:mod:`mfcomm.channels.framing`: preamble, payload, guard zeros), pulse-shaped at ``sps`` samples per symbol
(root-raised-cosine, ``rolloff``: :mod:`mfcomm.channels.pulse_shaping`; ``sps = 1``, the default, sends the symbols
as samples), pushed into the stream, found again by the delay search, matched-filtered, timing-recovered
(:mod:`mfcomm.channels.timing`), synchronised (``sync``: ``none``, ``gain``, ``cfo`` or ``fine``) and returned as
(batch, n): the same front-end for every system that uses the channel, the built-in flowgraph and users' alike.
The stream never stops between frames: while the flowgraph holds samples back, filler zeros are pushed to flush
them. A run through such a channel writes its transmitted spectrum, ``spectrum.png``.

Conventions of the built-in (:mod:`mfcomm.conventions`): the symbols have unit average energy, and GNU Radio's
complex noise of ``noise_voltage`` has variance ``noise_voltage**2`` (measured in
``tests/channels/test_gnuradio.py``), so ``snr_db`` = Es/N0 sets ``noise_voltage = 10**(-snr_db/20)``.
At ``sps`` > 1 the shaped samples carry energy 1 per symbol, and the same ``noise_voltage`` per sample keeps Es/N0
after the matched filter. ``freq_offset`` is in cycles per sample (per symbol at ``sps = 1``); ``epsilon`` is the
sample-clock ratio (1: none); ``taps`` the multipath filter at the sample rate, complex numbers separated by ``/``
(``1/0.2+0.1j``), applied as given (not normalised).

Example
-------
>>> ch = GnuRadioChannel(snr_db=15, freq_offset=1e-3)   # nothing starts until the first call
>>> ch.name, ch.differentiable
('gnuradio(snr_db=15,freq_offset=0.001,epsilon=1,taps=1,seed=0,sync=fine,payload=512)', False)
>>> GnuRadioChannel(flowgraph=str(FLOWGRAPH), noise_voltage=0.1, seed=3).options  # any flowgraph: keys as options
['--noise-voltage=0.1', '--seed=3']
>>> GnuRadioChannel(snr_db=15, sps=4, engine="python").name   # in-process: no flowgraph
'gnuradio(snr_db=15,freq_offset=0,epsilon=1,taps=1,seed=0,sync=fine,payload=512,sps=4,rolloff=0.35,engine=python)'
"""

from __future__ import annotations

import math
import time
import weakref
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from mfcomm.channels import stage_bounds, stage_keys
from mfcomm.channels.flowgraph_process import Flowgraph
from mfcomm.channels.framing import Framer
from mfcomm.channels.radio import RadioLink
from mfcomm.channels.radio_model import RadioEmulator, RadioModel, radio_model
from mfcomm.channels.stage_keys import OWN_KEYS, RADIO_KEYS
from mfcomm.channels.stream_model import ChannelModel, StreamModel, built_in, number
from mfcomm.conventions import SYMBOL_DTYPE
from mfcomm.errors import ChannelError

FLOWGRAPH = Path(__file__).parent / "flowgraphs" / "gr_channel.py"
RADIO_SPS = 4
"""Samples per symbol of ``radio=true`` unless ``sps`` says otherwise."""
POLL_SECONDS = 0.02
"""How long to wait for samples before pushing filler to flush what the flowgraph holds back."""
STREAM_BYTES, FRAME_BYTES = 48, 512
"""Bytes a call holds in this process per sample of its stream (frames sent, samples received, payloads), and per
sample of one frame while it is synchronised (resampling with ``engine=python``, matched filter, delay search);
measured about 40 and 400."""


class Transport(Protocol):
    """A sample stream: what is sent comes back, delayed, in pieces of any size."""

    def send(self, samples: np.ndarray, deadline: float) -> None:
        """Send ``samples``; a ChannelError if the stream takes nothing before ``deadline`` (time.monotonic())."""
        ...

    def receive(self, wait: float) -> np.ndarray | None:
        """Samples that arrived within ``wait`` seconds, or None."""
        ...

    def diagnostic(self) -> str:
        """The stream's last word on what went wrong (a flowgraph's last line of stderr), or ''."""
        ...

    def close(self) -> None: ...


class GnuRadioChannel:
    """A GNU Radio flowgraph as a sampled channel (see the module doc). Not differentiable.

    Input ``x``: (batch, n) complex64. Output: (batch, n) complex64, synchronised as ``sync`` says.
    A call that gets no samples back within ``timeout`` seconds, a frame whose preamble is not found, or
    a flowgraph that fails, raises a one-line ChannelError; the flowgraph is then restarted on the next call.
    ``transport`` may be set before the first call to stream through something else (tests do).
    """

    differentiable = False
    __signature__ = stage_keys.signature()

    def __init__(self, timeout: float | None = 60.0, generator: torch.Generator | None = None, **keys: float | str):
        self.radio = stage_keys.flag("radio", keys.get("radio", False))
        defaults = {**OWN_KEYS, "sps": RADIO_SPS} if self.radio else OWN_KEYS
        own = {key: keys.pop(key, default) for key, default in defaults.items()}
        flowgraph, sync, payload = str(own["flowgraph"]), str(own["sync"]), int(number("payload", own["payload"], int))
        sps, rolloff = int(number("sps", own["sps"], int)), float(number("rolloff", own["rolloff"], float))
        stage_bounds.check("gnuradio", payload=payload, sps=sps, rolloff=rolloff)
        self.engine = stage_keys.engine(str(own["engine"]), flowgraph)
        if self.radio and (sps < 2 or sync not in ("cfo", "fine")):
            raise ChannelError(
                "channel stage gnuradio: radio=true needs sps >= 2 (a radio's sample clock drifts against ours: "
                "timing recovery needs samples between symbols) and sync=cfo or sync=fine"
            )
        given_radio = {key: keys.pop(key) for key in RADIO_KEYS if keys.get(key) is not None}
        self.samp_rate, self.max_latency = stage_keys.radio_keys(self.radio, given_radio, keys)
        self.model: ChannelModel | RadioModel | None = None
        """The built-in channel model's (or the radio emulator's) parameters; None for another flowgraph."""
        if flowgraph:
            self.path = stage_keys.flowgraph_path(flowgraph)
            values = {key: stage_keys.text(key, value) for key, value in sorted(keys.items())}
            given = ",".join([f"flowgraph={flowgraph}"] + [f"{k}={t}" for k, t in values.items()])
            if self.radio:
                values["samp_rate"] = stage_keys.text("samp_rate", self.samp_rate)
            values = stage_keys.declared(self.path, values)
        elif self.radio:
            if self.engine != "python":
                raise ChannelError(
                    "channel stage gnuradio: radio=true needs flowgraph=PATH (a radio's, or "
                    "examples/flowgraphs/radio_emulator.grc) or engine=python (the in-process radio emulator)"
                )
            self.path = FLOWGRAPH
            self.model, given = radio_model(keys, self.samp_rate)
            values = {}
        else:
            self.path = FLOWGRAPH
            self.model, given = built_in(keys)
            values = self.model.options()
        self.noise_voltage = self.model.noise_voltage if isinstance(self.model, ChannelModel) else None
        """The built-in flowgraph's, from ``snr_db``; None for another flowgraph."""
        self.options = stage_keys.as_options(values)
        try:
            guard = max(64, 32 * sps) if self.radio else 64
            self.framer = Framer(payload=payload, sync=sync, sps=sps, rolloff=rolloff, guard=guard, radio=self.radio)
        except ChannelError as err:
            raise ChannelError(f"channel stage gnuradio: {err}") from None
        self.timeout = timeout or math.inf
        shaping = f",sps={sps},rolloff={rolloff:g}" if sps != 1 else ""
        engine = f",engine={self.engine}" if self.engine != "flowgraph" else ""
        radio = f",radio=true,samp_rate={self.samp_rate:g},max_latency={self.max_latency:g}" if self.radio else ""
        self.name = f"gnuradio({given},sync={sync},payload={payload}{shaping}{engine}{radio})"
        self.transport: Transport | None = None
        self.link: RadioLink | None = None
        self.counters: dict[str, float] = {}
        """A radio's burst counters (:mod:`mfcomm.channels.radio`), over every restart; empty for a stream."""
        self._finalizer: weakref.finalize | None = None
        self._reset()

    def memory(self, rows: int, n: int) -> int:
        """Rough peak bytes of a call on (rows, n) symbols in this process: the stream's samples (``sps`` a symbol,
        and each frame's markers, filter tail and guard) and one frame's synchronisation."""
        symbols, framer = rows * n, self.framer
        samples = framer.sps * symbols + -(-symbols // framer.payload) * framer.overhead
        return STREAM_BYTES * samples + FRAME_BYTES * (framer.sps * min(symbols, framer.payload) + framer.overhead)

    def _reset(self) -> None:
        """A fresh stream: nothing sent, nothing received."""
        self.deframer = self.framer.deframer()
        self.sent = 0

    def _stream(self) -> Transport:
        if self.transport is None:
            if isinstance(self.model, RadioModel):
                transport: Transport = RadioEmulator(self.model)
            elif isinstance(self.model, ChannelModel) and self.engine == "python":
                transport = StreamModel(self.model)
            else:
                transport = Flowgraph(self.path, self.options, str(self.path))
            self.transport = transport
            self._finalizer = weakref.finalize(self, transport.close)
            self._reset()
        return self.transport

    def _radio(self) -> RadioLink:
        """The link to the radio (a fresh one after a restart), its counters carried on."""
        stream = self._stream()
        if self.link is None or self.link.transport is not stream:
            self.link = RadioLink(self.framer, stream, self.samp_rate, self.max_latency, self.timeout, self.name)  # type: ignore[arg-type]  # a radio's transport has seconds()
            self.link.counters = self.counters = self.counters or self.link.counters
        return self.link

    def close(self) -> None:
        """Stop the flowgraph (a later call starts a fresh one)."""
        transport, self.transport, self.link = self.transport, None, None
        if transport is not None:
            transport.close()
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        symbols = x.detach().to("cpu", SYMBOL_DTYPE).numpy().reshape(-1)
        try:
            y = self._radio()(symbols) if self.radio else self._through_stream(symbols)
        except ChannelError:
            self.close()
            raise
        return torch.from_numpy(y.reshape(tuple(x.shape))).to(x.device)

    def _through_stream(self, symbols: np.ndarray) -> np.ndarray:
        """Send ``symbols`` as frames, then collect each frame's synchronised payload, in order."""
        stream, deframer = self._stream(), self.deframer
        deadline = time.monotonic() + self.timeout  # after a start: a first call waits for the flowgraph too
        if self.sent == 0:  # a lead-in of zeros: a stream that starts early (negative delay) loses only these
            stream.send(np.zeros(self.framer.guard, np.complex64), deadline)
            self.sent = self.framer.guard
        in_flight = []
        for frame in self.framer.frames(symbols):
            stream.send(frame, deadline)
            in_flight.append((self.sent, len(frame) - self.framer.overhead))
            self.sent += len(frame)
        payloads = []
        for start, length in in_flight:
            while deframer.end < deframer.needed(start, length):
                samples = stream.receive(POLL_SECONDS)
                if samples is not None:
                    deframer.push(samples)
                    continue
                if time.monotonic() > deadline:
                    said = stream.diagnostic()
                    raise ChannelError(
                        f"channel {self.name}: no samples back within {self.timeout:g} s"
                        + (f" (flowgraph's last words: {said})" if said else "")
                    )
                # keep the stream going: send up to what the frame needs, then a guard's worth a poll to flush
                # what the flowgraph holds back (not more: one that is slow to start or answer is not starved)
                filler = max(self.framer.guard, min(deframer.needed(start, length) - self.sent, 8192))
                stream.send(np.zeros(filler, np.complex64), deadline)
                self.sent += filler
            try:
                payloads.append(deframer.extract(start, length))
            except ChannelError as err:  # what came back holds no frame: not a stream of complex samples sent
                raise ChannelError(f"channel {self.name}: {err}") from None
        return np.concatenate(payloads) if payloads else symbols.copy()

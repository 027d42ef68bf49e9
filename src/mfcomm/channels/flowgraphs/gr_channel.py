"""GNU Radio 3.10 flowgraph: complex64 samples in over ZMQ, through ``channels.channel_model``, out over ZMQ.

    ZMQ PULL source (connects to --in-address) -> channel_model(noise_voltage, frequency_offset, epsilon, taps,
    noise_seed) -> ZMQ PUSH sink (binds --out-address)

mfcomm's built-in flowgraph, keeping the contract every flowgraph keeps (:mod:`mfcomm.channels.gnuradio`); the
same as ``examples/flowgraphs/channel_model.grc``, written by hand. Run with the system Python that has GNU Radio
(``/usr/bin/python3``), not mfcomm's virtual environment: it imports nothing from mfcomm. It streams until its
stdin closes (its parent exited or closed the pipe) or it gets SIGTERM/SIGINT.
Exit status 3 with ``GNU Radio not found`` on stderr when ``gnuradio`` cannot be imported.

``channel_model`` is a stream block: its timing-offset resampler and multipath filter hold samples back
until more arrive, so a sender must keep the stream going (see :mod:`mfcomm.channels.framing`).
Complex noise: ``noise_voltage`` is the standard deviation of the complex noise sample, total variance
``noise_voltage**2`` (half on each of I and Q); measured in ``tests/channels/test_gnuradio.py``.
"""

import argparse
import io
import signal
import sys
from typing import cast


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--in-address", default="tcp://127.0.0.1:5555", help="ZMQ endpoint the PULL source connects to")
    p.add_argument("--out-address", default="tcp://127.0.0.1:5556", help="ZMQ endpoint the PUSH sink binds")
    p.add_argument("--noise-voltage", type=float, default=0.0, help="std of the complex noise (variance N0)")
    p.add_argument("--freq-offset", type=float, default=0.0, help="frequency offset, cycles per sample")
    p.add_argument("--epsilon", type=float, default=1.0, help="sample-clock ratio (1.0: no timing offset)")
    p.add_argument("--taps", default="1", help="comma-separated complex multipath taps, e.g. '1,0.2+0.1j'")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()
    try:
        from gnuradio import channels, gr, zeromq
    except ImportError as err:
        print(f"GNU Radio not found ({err})", file=sys.stderr)
        return 3
    taps = [complex(t.replace(" ", "")) for t in args.taps.split(",") if t.strip()]
    item = gr.sizeof_gr_complex
    tb = gr.top_block("mfcomm GNU Radio channel")
    source = zeromq.pull_source(item, 1, args.in_address, 100, False, -1)
    model = channels.channel_model(args.noise_voltage, args.freq_offset, args.epsilon, taps, args.seed, True)
    sink = zeromq.push_sink(item, 1, args.out_address, 100, False, -1)
    tb.connect(source, model, sink)
    tb.start()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while cast(io.BufferedReader, sys.stdin.buffer).read1(4096):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        tb.stop()
        tb.wait()
    return 0


def _interrupt(*_: object) -> None:
    """SIGTERM ends the flowgraph as Ctrl-C does."""
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())

"""A test flowgraph that keeps mfcomm's contract, with the options and the stop a GRC no_gui top block has:

    ZMQ PULL source (connects to --in-address) -> multiply_const(--gain) -> ZMQ PUSH sink (binds --out-address)

and misbehaves on request, for the fault tests: ``--fault`` ``exit`` (quits after half a second, status 4),
``silent`` (takes samples, sends none), ``noise`` (sends noise, not what it took), ``floats`` (sends float items,
not complex), ``stubborn`` (ignores its stdin closing and SIGTERM); ``--crash-after N`` dies of SIGSEGV once N
samples went through; ``--pid-file`` gets its process id. Runs under the system Python with GNU Radio, which is
imported in :func:`build` only (pytest imports this file for doctests, in an environment without it).
"""

import contextlib
import os
import signal
import sys
import time
from argparse import ArgumentParser


def build(options):
    """The top block ``options`` ask for."""
    import numpy as np
    from gnuradio import analog, blocks, gr, zeromq

    class Crash(gr.sync_block):
        """Passes complex samples through; SIGSEGV once ``after`` of them went through."""

        def __init__(self, after):
            gr.sync_block.__init__(self, "crash", [np.complex64], [np.complex64])
            self.after, self.seen = after, 0

        def work(self, input_items, output_items):
            self.seen += len(input_items[0])
            if self.seen >= self.after:
                os.kill(os.getpid(), signal.SIGSEGV)
            output_items[0][:] = input_items[0]
            return len(output_items[0])

    item = gr.sizeof_gr_complex
    tb = gr.top_block("relay", catch_exceptions=True)
    source = zeromq.pull_source(item, 1, options.in_address, 100, False, -1)
    last = blocks.multiply_const_cc(options.gain)
    tb.connect(source, last)
    if options.crash_after:
        tb.crash = Crash(options.crash_after)  # a Python block: the top block must hold it
        tb.connect(last, tb.crash)
        last = tb.crash
    if options.fault == "silent":
        tb.connect(last, blocks.null_sink(item))
    elif options.fault == "floats":
        sink = zeromq.push_sink(gr.sizeof_float, 1, options.out_address, 100, False, -1)
        tb.connect(last, blocks.complex_to_real(), sink)
    elif options.fault == "noise":
        tb.connect(last, blocks.null_sink(item))
        sink = zeromq.push_sink(item, 1, options.out_address, 100, False, -1)
        tb.connect(analog.noise_source_c(analog.GR_GAUSSIAN, 1.0, 0), blocks.throttle(item, 1e6), sink)
    else:
        tb.connect(last, zeromq.push_sink(item, 1, options.out_address, 100, False, -1))
    return tb


def argument_parser():
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-address", dest="in_address", type=str, default="tcp://127.0.0.1:5555")
    parser.add_argument("--out-address", dest="out_address", type=str, default="tcp://127.0.0.1:5556")
    parser.add_argument("--gain", dest="gain", type=float, default=1.0)
    parser.add_argument("--fault", choices=["none", "exit", "silent", "noise", "floats", "stubborn"], default="none")
    parser.add_argument("--crash-after", dest="crash_after", type=int, default=0)
    parser.add_argument("--pid-file", dest="pid_file", type=str, default="")
    return parser


def main():
    options = argument_parser().parse_args()
    if options.pid_file:
        with open(options.pid_file, "w") as out:
            out.write(str(os.getpid()))
    tb = build(options)

    def sig_handler(sig=None, frame=None):
        tb.stop()
        tb.wait()
        sys.exit(0)

    signal.signal(signal.SIGINT, sig_handler)
    signal.signal(signal.SIGTERM, signal.SIG_IGN if options.fault == "stubborn" else sig_handler)
    tb.start()
    if options.fault == "exit":
        time.sleep(0.5)
        tb.stop()
        tb.wait()
        print("relay: radio lost", file=sys.stderr)
        sys.exit(4)
    if options.fault == "stubborn":
        while True:
            time.sleep(1)
    with contextlib.suppress(EOFError):  # stdin closed: stop, as GRC's no_gui flowgraphs do
        input("Press Enter to quit: ")
    tb.stop()
    tb.wait()


if __name__ == "__main__":
    main()

"""The ``mfcomm`` command: ``train``, ``evaluate``, ``demo``, ``gradcheck``, ``node``, ``bitwise``, ``sweep``
(see docs/cli.md).

Every user error ends in one line on stderr and a non-zero exit status, never a traceback. Each command is a
module here with ``add_parser`` (its options) and ``run`` (what it does); this one wires them into one parser,
turns errors into those lines and SIGTERM into an interrupt.

The command modules import the library inside the functions that run a command, not at their top: every library
module imports torch (seconds), which ``mfcomm --help`` and a usage error should not wait for, and Ray and Sionna
are imported only by the commands that use them (``sweep``, ``bitwise evaluate``). Nothing in the library imports
this package (the node launcher starts ``python -m mfcomm.cli`` as a process), so these imports close no cycle.
"""

from __future__ import annotations

import signal
import threading

_EARLY: list[int] = []
"""SIGINT or SIGTERM that arrived while this package was imported (before :func:`main` could take it)."""
_BEFORE = (
    {s: signal.signal(s, lambda signum, _frame: _EARLY.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread()
    else {}
)

import argparse  # noqa: E402 - below: a signal during these imports is held for main(), not a traceback
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402

from mfcomm.cli import bitwise, demo, evaluate, gradcheck, node, sweep, train  # noqa: E402
from mfcomm.cli.signals import exit_status, interrupt, settle, signal_name  # noqa: E402
from mfcomm.errors import MfcommError  # noqa: E402

for _signal, _handler in _BEFORE.items():  # imported: the handlers are those of whoever imports this
    signal.signal(_signal, _handler)

EXIT_USAGE = 2
EXIT_FAILURE = 1

# in the order mfcomm --help lists them
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": train.run,
    "evaluate": evaluate.run,
    "demo": demo.run,
    "gradcheck": gradcheck.run,
    "node": node.run,
    "bitwise": bitwise.run,
    "sweep": sweep.run,
}
_PARSERS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    train.add_parser,
    evaluate.add_parser,
    demo.add_parser,
    gradcheck.add_parser,
    node.add_parser,
    bitwise.add_parser,
    sweep.add_parser,
)


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line too (the usage itself is one --help away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``mfcomm`` parser with every command (their subparsers are ``_Parser`` too: one-line errors).

    >>> args = build_parser().parse_args(["train", "--messages", "64", "--no-baseline"])
    >>> args.command, args.messages, args.compare_baseline, args.channel
    ('train', 64, False, None)
    """
    parser = _Parser(
        prog="mfcomm",
        description="Model-free end-to-end learning of communication systems (Ait Aoudia & Hoydis, JSAC 2019).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_parser in _PARSERS:
        add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # SIGTERM as Ctrl-C: cleanly, a line saying so, exit 143 (130); neither tears an import apart
    previous = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    prog = "mfcomm"  # until the command is known: a signal may arrive while the options are read
    try:
        if _EARLY:  # a signal while this module was imported: as if it came now
            signal.raise_signal(_EARLY.pop())
        args = build_parser().parse_args(argv)
        prog = f"mfcomm {args.command}"
        return COMMANDS[args.command](args)
    except MfcommError as err:
        print(f"{prog}: error: {one_line(str(err))}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a write the command's own checks could not foresee (the disk filled up meanwhile)
        where = f"{err.filename}: " if err.filename else ""
        print(f"{prog}: error: {where}{one_line(err.strerror or str(err))}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt as err:
        left = _LEFT_BY_INTERRUPT.get(prog.removeprefix("mfcomm "), "nothing written")
        print(f"{prog}: interrupted ({signal_name(err)}); {left}", file=sys.stderr)
        return exit_status(err)
    finally:
        settle()
        for s, handler in previous.items():
            signal.signal(s, handler)


_LEFT_BY_INTERRUPT = {"demo": "no report written (the runs it finished stay in its --out)"}
"""What an interrupted command leaves, where that is more than nothing."""


def one_line(text: str) -> str:
    r"""An error's text on one line: a message with line breaks (a user's channel may raise one) folded.

    >>> one_line("channel f.py:f raised ValueError: bad\n  input\n")
    'channel f.py:f raised ValueError: bad input'
    """
    return " ".join(line.strip() for line in text.splitlines() if line.strip())

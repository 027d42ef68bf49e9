"""Signals during training (mfcomm.learning.checkpointing.stop_signals): the first asks training to stop at the end
of its iteration, a second stops at once and names itself, so that the command exits 128 + its number."""

import signal

import pytest

from mfcomm.cli.signals import exit_status, signal_name
from mfcomm.learning import checkpointing


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_second_signal_stops_at_once_and_names_itself(sig, status):
    before = signal.getsignal(sig)
    with checkpointing.stop_signals():
        signal.raise_signal(sig)  # the first: training is asked to stop after this iteration
        assert checkpointing._stop == [sig.name]
        with pytest.raises(KeyboardInterrupt) as err:
            signal.raise_signal(sig)
    assert signal_name(err.value) == sig.name and exit_status(err.value) == status
    assert signal.getsignal(sig) is before  # the previous handler is back

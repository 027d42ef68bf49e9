"""Channels: what the symbols go through between transmitter and receiver.

- :mod:`~mfcomm.channels.contract`: the one contract, ``y = channel(x)`` on complex64 tensors (batch, n), the
  built-in AWGN and Rayleigh block fading, a user's black box on NumPy arrays, and :class:`Counted`, the one
  place channel uses are counted;
- :mod:`~mfcomm.channels.impairments`, :mod:`~mfcomm.channels.field_models`, :mod:`~mfcomm.channels.gnuradio`
  (with :mod:`~mfcomm.channels.framing`): the stages a chain is made of;
- :mod:`~mfcomm.channels.chain`: impairment chains such as ``rapp(p=2,sat=1.2) | awgn | adc(bits=3)``;
- :mod:`~mfcomm.channels.spec`: what a channel spec means, decided in one place, and the channel it names.
"""

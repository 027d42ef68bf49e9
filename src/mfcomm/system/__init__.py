"""The communication system: messages -> :mod:`~mfcomm.system.transmitter` -> symbols, and received symbols
-> :mod:`~mfcomm.system.receiver` -> logits; :mod:`~mfcomm.system.build` makes both for a configuration (and
stores their weights), :mod:`~mfcomm.system.initial` says where training starts,
:mod:`~mfcomm.system.bitwise` holds the bit-wise system (a constellation and a neural demapper), and
:mod:`~mfcomm.system.baselines` the classical systems they are compared with (same-rate codebooks, closed-form
SERs, ML detectors): systems too, so training can start from them."""

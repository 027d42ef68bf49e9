"""Three-process training: the transmitter, the channel and the receiver as separate programs.

The paper's algorithm is for links where the transmitter and the receiver are different devices that share
only the channel and a feedback link. ``mfcomm node tx|channel|rx`` runs one role; ``mfcomm node all``
runs all three on this machine. They form a ring over ZeroMQ, tx -> channel -> rx -> tx:

- :mod:`~mfcomm.nodes.tx_node`: messages -> transmitter -> perturbation -> symbols x to the channel node;
  fed-back losses -> baseline -> Eq. 8 estimate -> transmitter step, scheduled by the one loop of
  :mod:`mfcomm.learning.loop` (its state: :mod:`~mfcomm.nodes.schedule`);
- :mod:`~mfcomm.nodes.channel_node`: y = channel(x), any channel spec, to the rx node;
- :mod:`~mfcomm.nodes.rx_node`: receiver step, or per-example losses -> feedback link -> tx node.

:mod:`~mfcomm.nodes.wire` is the message format, :mod:`~mfcomm.nodes.auth` the authentication of every
message, :mod:`~mfcomm.nodes.link` the sockets, :mod:`~mfcomm.nodes.protocol` the handshake that survives
restarts, :mod:`~mfcomm.nodes.checkpoints` each node's checkpoints, :mod:`~mfcomm.learning.seeding` the per-role
random generators, and :mod:`~mfcomm.nodes.launcher` the commands. ``docs/reliability.md`` states the threat model.
"""

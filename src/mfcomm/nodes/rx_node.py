"""The rx node: the receiver. It learns from what the channel node delivers and feeds back only losses.

For each block ``y`` of a data message it draws the block's messages from the training-message stream it
shares (by seed) with the tx node, then, by the block's kind:

- ``rx``: a supervised receiver step (:func:`mfcomm.learning.model_free.descend` on the mean loss);
- ``tx``: per-example losses (with ``rx_on_tx_batch``, after a receiver step on their mean), through the feedback
  link (:class:`mfcomm.learning.feedback.FeedbackLink`: perfect, noisy or quantised, frames lost), sent back to
  the tx node: the only thing the transmitter ever learns from the receiver (as in
  :func:`mfcomm.learning.model_free.train_model_free`'s transmitter step). The last ``feedback_delay`` (K) of
  them are kept, checkpointed, and sent again after a restart: the tx node, back at the same checkpoint, is
  still waiting for them;
- ``eval``: errors of the final SER measurement, counted here and reported as a running count.

Example
-------
The kinds of an iteration's steps, then fine-tuning's and the evaluation's:

>>> from mfcomm.config.files import configure
>>> cfg = configure(overrides={"iterations": 2, "finetune_iterations": 1, "rx_steps": 1, "tx_steps": 1})
>>> [expected_kind(cfg, it, step) for it, step in [(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (4, 0)]]
['rx', 'tx', None, 'rx', None, 'eval']
"""

from __future__ import annotations

import torch

from mfcomm.config.fields import EVAL_BATCH, Config
from mfcomm.errors import NodeError
from mfcomm.learning.examples import Symbols
from mfcomm.learning.feedback import feedback_link, pack
from mfcomm.learning.loop import LossWindow
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.model_free import descend
from mfcomm.learning.seeding import generator, seeded_receiver
from mfcomm.nodes import wire
from mfcomm.nodes.checkpoints import Role, Store
from mfcomm.nodes.link import Link
from mfcomm.nodes.protocol import serve


def expected_kind(cfg: Config, iteration: int, step: int) -> str | None:
    """The kind the block of (``iteration``, ``step``) must have, or None if there is no such step."""
    if iteration <= cfg.iterations:
        if step < cfg.rx_steps:
            return "rx"
        return "tx" if step < cfg.rx_steps + cfg.tx_steps else None
    if iteration <= cfg.total_iterations:
        return "rx" if step == 0 else None
    return "eval" if iteration == cfg.total_iterations + 1 else None


class RxNode(Role):
    """The receiver, its optimiser, its end of the feedback link and its random generators."""

    def __init__(self, cfg: Config, store: Store, link: Link):
        self.cfg, self.store, self.link = cfg, store, link
        self.symbols = Symbols(cfg.messages)
        self.load(0)  # until the handshake says where the three resume; the checkpoints stay

    def load(self, iteration: int) -> None:
        """Take the state after ``iteration`` (0: the fresh start from the seed) from its checkpoint."""
        cfg = self.cfg
        self.rx = seeded_receiver(cfg)
        self.opt = torch.optim.Adam(self.rx.parameters(), lr=cfg.rx_lr)
        self.messages = generator(cfg.seed, "messages")
        feedback_stream = generator(cfg.seed, "feedback")
        self.feedback = feedback_link(cfg, feedback_stream)
        self.metrics: list[dict[str, float]] = []
        self.in_flight: list[dict] = []  # the last K feedback replies: {iteration, step, losses, lost}
        if iteration:
            weights, state = self.store.load(iteration)
            self.rx.load_state_dict(weights)
            self.opt.load_state_dict(state["optimizer"])
            self.messages.set_state(state["messages"])
            feedback_stream.set_state(state["feedback"])
            self.feedback.bits_sent, self.feedback.frames_lost = state["bits_sent"], state["frames_lost"]
            self.in_flight = state["in_flight"]
            self.metrics = state["metrics"]
        self.window = LossWindow()
        self.next = (iteration + 1, 0)
        self.errors = self.received = 0

    def handle(self, msg: wire.Message, epoch: int) -> None:
        """The blocks of a data message, step after step; then the reply, if the tx node waits for one."""
        cfg, it, x = self.cfg, msg["iteration"], msg.array
        assert x is not None  # a data message carries its array (wire.decode checks)
        if x.shape[1] != cfg.channel_uses:
            raise NodeError(f"rx node received blocks of {x.shape[1]} symbols, expected {cfg.channel_uses}")
        reply, lost = torch.empty(0), "0"
        for step, kind, y in zip(
            range(msg["step"], msg["step"] + len(msg["kinds"])),
            msg["kinds"],
            x.split(msg["blocks"]),
            strict=False,
        ):
            if (it, step) != self.next or kind != expected_kind(cfg, it, step):
                raise NodeError(
                    f"rx node expected data for iteration {self.next[0]} step {self.next[1]} "
                    f"({expected_kind(cfg, *self.next)}), received {kind} for iteration {it} step {step}"
                )
            self.next = (it, step + 1)
            reply, lost = (self.count_errors(y), "0") if kind == "eval" else self.learn(kind, y)
            if kind == "tx" and self.cfg.delay:
                self.in_flight = [*self.in_flight, {"iteration": it, "step": step, "losses": reply, "lost": lost}]
                self.in_flight = self.in_flight[-self.cfg.delay :]
        if msg["last"]:
            self.next = (it + 1, 0)
            self.end_iteration(it)
        if msg["reply"] and reply.dtype == torch.int64:
            self.link.send(wire.encode("count", reply, epoch=epoch, iteration=it, step=step))
        elif msg["reply"]:
            self.link.send(wire.encode("feedback", reply, epoch=epoch, iteration=it, step=step, lost=lost))

    def after_resume(self, epoch: int) -> None:
        """Send again the feedback the tx node was still waiting for at the checkpoint all three resumed from."""
        for sent in self.in_flight:
            fields = {"iteration": sent["iteration"], "step": sent["step"], "lost": sent["lost"]}
            self.link.send(wire.encode("feedback", sent["losses"], epoch=epoch, **fields))

    def learn(self, kind: str, y: torch.Tensor) -> tuple[torch.Tensor, str]:
        """A receiver step (returns no losses) or a transmitter step's losses through the feedback link: those
        that arrive, and the frames lost (a bit mask in hex)."""
        cfg = self.cfg
        batch = cfg.batch_size if kind == "rx" else cfg.tx_batch * cfg.perturbations
        if y.shape[0] != batch:
            raise NodeError(f"rx node expected {batch} blocks for a {kind} step, received {y.shape[0]}")
        set_rates(self.opt, [cfg.rx_lr], self.next[0], cfg)
        m = self.symbols.draw(batch // (1 if kind == "rx" else cfg.perturbations), y.device, self.messages)
        if kind == "rx":
            self.window.add("rx_loss", descend(self.opt, self.symbols.loss(self.rx, y, m)))
            return torch.empty(0), "0"
        m_k = m.repeat_interleave(cfg.perturbations)
        with torch.set_grad_enabled(cfg.rx_on_tx_batch):
            losses = self.symbols.losses(self.rx, y, m_k)  # per-example losses
        if cfg.rx_on_tx_batch:  # it knows the labels: the transmitter's transmissions train it too
            descend(self.opt, losses.mean())
        return pack(self.feedback(losses.detach()), self.feedback.frame)  # the link: what arrives, what was lost

    def end_iteration(self, it: int) -> None:
        """Learning-curve row and checkpoint, as ``mfcomm train`` logs them (before the reply goes out)."""
        cfg, total = self.cfg, self.cfg.total_iterations
        self.store.iterations_run += 1
        if it > cfg.iterations:
            self.in_flight = []  # the tx node took every feedback reply before fine-tuning
        if it % cfg.log_every == 0 or it in (cfg.iterations, total):
            row = {"iteration": it, **{k: float(v) for k, v in self.window.means().items()}}
            if it <= cfg.iterations:
                row["feedback_bits"] = float(self.feedback.bits_sent)
                if cfg.feedback_loss:
                    row["feedback_frames_lost"] = float(self.feedback.frames_lost)
            self.metrics.append(row)
        if cfg.checkpoint_every and it % cfg.checkpoint_every == 0:
            assert self.feedback.generator is not None  # load() gives the link its own stream
            self.store.save(
                it,
                self.rx.state_dict(),
                {
                    "optimizer": self.opt.state_dict(),
                    "messages": self.messages.get_state(),
                    "feedback": self.feedback.generator.get_state(),
                    "bits_sent": self.feedback.bits_sent,
                    "frames_lost": self.feedback.frames_lost,
                    "in_flight": self.in_flight,
                    "metrics": self.metrics,
                },
            )

    def count_errors(self, y: torch.Tensor) -> torch.Tensor:
        """Errors of the learned system on an evaluation block; returns the running (errors, messages)."""
        m = self.symbols.draw(y.shape[0], y.device, self.messages)
        self.rx.eval()
        with torch.inference_mode():
            for start in range(0, y.shape[0], EVAL_BATCH):
                m_hat = self.rx(y[start : start + EVAL_BATCH]).argmax(dim=1)
                self.errors += int((m_hat != m[start : start + EVAL_BATCH]).sum())
        self.rx.train()
        self.received += y.shape[0]
        return torch.tensor([self.errors, self.received], dtype=torch.int64)

    def finish(self) -> None:
        self.store.finish(
            self.rx.state_dict(),
            {
                "role": "rx",
                "metrics": self.metrics,
                "eval_errors": self.errors,
                "eval_messages": self.received,
                "ser": self.errors / self.received if self.received else None,
                "rejected_messages": self.link.seal.rejected,
            },
        )


def run(cfg: Config, link: Link, store: Store) -> RxNode:
    """Serve the ring until the tx node says ``done``; returns the node (for its result)."""
    node = RxNode(cfg, store, link)
    serve(link, node)
    return node

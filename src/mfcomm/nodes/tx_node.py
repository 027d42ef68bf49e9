"""The tx node: the transmitter, and the lead of the ring. It never sees the channel or the receiver.

It runs Algorithm 1 as ``mfcomm train`` does (:func:`mfcomm.learning.model_free.train_model_free`, with the same
bookkeeping, :class:`mfcomm.learning.loop.Loop`), with steps that are messages:

1. a receiver step: ``x = f_T(m)`` for the channel and rx nodes (the rx node takes the step and logs its loss),
   sent with the next transmitter step's block;
2. a transmitter step: perturb ``f_T(m)`` and send it; then the fed-back per-example losses of the step sent
   ``feedback_delay`` (K) steps earlier arrive: subtract the baseline, correct for staleness, descend the Eq. 8
   estimate (:mod:`mfcomm.learning.delay`, as in one process);
3. a receiver fine-tuning step: one block of clean transmissions, acknowledged (K steps later too).

Then the final SER measurement (codebook blocks that the rx node scores), and ``done``. With K = 0 each
transmitter step is one round trip; with K >= 1 the node sends on while K steps' losses are in flight, so the
three nodes compute at once (a pipeline of depth K) and train the weights one process trains with the same K.

Example
-------
What a transmitter step sends: each message's symbols K times, perturbed (here K = 2, an antithetic pair), as
(messages K, n) complex64, the block the rx node scores against the same messages drawn from the shared seed:

>>> import torch
>>> from mfcomm.system.transmitter import Transmitter
>>> tx, m = Transmitter(16, 2), torch.arange(16)
>>> xbar = tx(m.repeat_interleave(2))
>>> x_p = perturb(xbar, 0.1, tx.real, perturbations=2, antithetic=True)
>>> x_p.shape, x_p.dtype
(torch.Size([32, 2]), torch.complex64)
>>> torch.allclose(x_p[0::2] + x_p[1::2], 2 * 0.9**0.5 * xbar[0::2].detach())  # the pair's noise cancels
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import torch
from tqdm import tqdm

from mfcomm.channels.counting import channel_uses
from mfcomm.config.fields import Config
from mfcomm.errors import NodeError
from mfcomm.learning.delay import DelayLine, InFlight, LateEstimate
from mfcomm.learning.estimator import LossBaseline, perturb, sigma2_at
from mfcomm.learning.examples import Symbols
from mfcomm.learning.feedback import frame_length, unpack
from mfcomm.learning.loop import Loop, metrics_row
from mfcomm.learning.lr_schedule import set_rates
from mfcomm.learning.seeding import generator, seeded_transmitter
from mfcomm.nodes import wire
from mfcomm.nodes.checkpoints import Role, Store
from mfcomm.nodes.link import Link
from mfcomm.nodes.protocol import Resync, await_reply, synchronise
from mfcomm.nodes.schedule import NodeState, without_stop_rule

EVAL_BLOCK = 16384
"""Messages per evaluation block (fewer if a block would exceed the message size limit)."""


class TxNode(Role):
    """The transmitter, its optimiser and baseline, its random generators, and the counters of the run."""

    def __init__(self, cfg: Config, store: Store, link: Link):
        self.cfg, self.store, self.link = cfg, store, link
        self.symbols = Symbols(cfg.messages)
        self.epoch = 0
        self.iteration = self.step = 0  # the running step's, as the wire names it
        self.queued: list[tuple[str, torch.Tensor]] = []  # receiver steps' (kind, block) not sent yet
        self.frame = frame_length(cfg.feedback_frame, cfg.perturbations)  # losses per feedback frame
        self.load(0)  # until the handshake says where the three resume; the checkpoints stay

    def load(self, iteration: int) -> None:
        """Take the state after ``iteration`` (0: the fresh start from the seed) from its checkpoint."""
        cfg = self.cfg
        self.tx = seeded_transmitter(cfg)
        self.opt = torch.optim.Adam(self.tx.parameters(), lr=cfg.tx_lr)
        self.baseline = LossBaseline(cfg.loss_baseline, cfg.messages, cfg.antithetic)
        self.delay, self.estimate = DelayLine(cfg.delay), LateEstimate(self.tx, self.symbols, self.baseline, cfg)
        self.messages = generator(cfg.seed, "messages")
        self.exploration = generator(cfg.seed, "exploration")
        self.uses, self.seconds, self.metrics = 0, 0.0, []
        self.acks: deque[tuple[int, int]] = deque()  # fine-tuning steps sent, not acknowledged yet
        if iteration:
            weights, state = self.store.load(iteration)
            self.tx.load_state_dict(weights)
            self.opt.load_state_dict(state["optimizer"])
            self.messages.set_state(state["messages"])
            self.exploration.set_state(state["exploration"])
            self.baseline.running, self.baseline.seen = state["baseline_running"], state["baseline_seen"]
            self.uses, self.seconds, self.metrics = state["uses"], state["seconds"], state["metrics"]
            self.delay.load_state_dict(state["delay"])

    def send(
        self, iteration: int, step: int, kinds: list[str], blocks: list[torch.Tensor], last: bool, reply: bool
    ) -> None:
        """The blocks of steps ``step, step + 1, ...`` to the channel node, as one message (dropped if the
        channel node is down: its restart triggers a handshake)."""
        x = torch.cat(blocks) if len(blocks) > 1 else blocks[0]
        self.link.send(
            wire.encode(
                "data",
                x,
                epoch=self.epoch,
                iteration=iteration,
                step=step,
                kinds=kinds,
                blocks=[b.shape[0] for b in blocks],
                last=last,
                reply=reply,
            )
        )
        if "eval" not in kinds:
            self.uses += channel_uses(x)  # the channel runs in the channel node: counted here as Counted counts

    def train(self, done: int, progress: Callable[[int], None]) -> None:
        """Algorithm 1 after iteration ``done`` (where the handshake resumed), fine-tuning included: the loop of
        ``mfcomm train`` (:func:`~mfcomm.learning.model_free.train_model_free`) with this node's steps, and its
        bookkeeping (:class:`~mfcomm.learning.loop.Loop`) with this node's counters. The receiver steps report no
        loss here: the rx node takes them and logs it."""
        cfg = self.cfg
        state = NodeState(self, done, cfg.checkpoint_every)

        def log(it: int, values: dict[str, torch.Tensor]) -> None:
            self.metrics.append(metrics_row(it, self.uses, state.seconds(), values))

        loop = Loop(without_stop_rule(cfg), log, progress, state)
        for it in loop.iterations():
            self.begin(it, state)
            for _ in range(cfg.rx_steps):
                self.receiver_step()
            sigma2 = sigma2_at(it, cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final)
            for _ in range(cfg.tx_steps):
                for late in self.transmitter_step(sigma2):
                    loop.add("tx_loss", late)
            loop.note(sigma2=sigma2)
        set_rates(self.opt, [cfg.tx_lr], cfg.iterations, cfg, [cfg.tx_warmup])
        for step in self.delay.drain():  # losses still on their way when the main loop ends
            self.update(step, sigma2_at(cfg.iterations, cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final))
        for i in loop.fine_tuning():
            self.begin(cfg.iterations + i, state)  # fine-tuning runs at the schedule's final rates
            self.fine_tune(last=i == cfg.finetune_iterations)

    def begin(self, iteration: int, state: NodeState) -> None:
        """Iteration ``iteration`` starts: its time, its steps' numbering, its learning rate."""
        state.begin()
        self.iteration, self.step, self.queued = iteration, 0, []
        set_rates(self.opt, [self.cfg.tx_lr], iteration, self.cfg, [self.cfg.tx_warmup])

    def receiver_step(self) -> None:
        """A receiver step: its block of clean transmissions waits for the next transmitter step's (one round
        trip); the rx node takes the step and logs its loss."""
        m = self.symbols.draw(self.cfg.batch_size, "cpu", self.messages)
        with torch.no_grad():
            self.queued.append(("rx", self.tx(m)))
        self.step += 1

    def transmitter_step(self, sigma2: float) -> list[torch.Tensor]:
        """A transmitter step: send a perturbed batch; then descend the Eq. 8 estimate on the losses of the step
        sent K steps ago, if they are due; returns their mean fed-back loss (none while the pipeline fills)."""
        cfg = self.cfg
        m = self.symbols.draw(cfg.tx_batch, "cpu", self.messages)
        m_k = m.repeat_interleave(cfg.perturbations)
        xbar = self.tx(m_k)  # f_T(m), with its graph
        x_p = perturb(xbar, sigma2, self.tx.real, cfg.perturbations, cfg.antithetic, self.exploration)  # policy
        tag = (self.iteration, self.step)
        self.post("tx", x_p, last=self.step == cfg.rx_steps + cfg.tx_steps - 1)
        due = self.delay.push(m, x_p, xbar, sigma2, self.tx.real, tag=tag)
        return [loss for step in due if (loss := self.update(step, sigma2)) is not None]

    def update(self, step: InFlight, sigma2: float) -> torch.Tensor | None:
        """Wait for ``step``'s fed-back losses and descend the Eq. 8 estimate; returns their mean (None: all lost)."""
        reply = await_reply(self.link, self.epoch, "feedback", *step.tag)
        return self.estimate.update(self.opt, step, sigma2, self.arrived(reply, step.x_p.shape[0]))

    def arrived(self, reply: wire.Message, count: int) -> torch.Tensor:
        """The ``count`` losses of a feedback reply, NaN in the frames the link lost (:func:`unpack`)."""
        assert reply.array is not None  # a feedback message carries its array (wire.decode checks)
        try:
            return unpack(reply.array, reply["lost"], count, self.frame)
        except ValueError as err:
            raise NodeError(f"tx node received a feedback reply that does not fit: {err}") from None

    def fine_tune(self, last: bool) -> None:
        """A receiver fine-tuning step: one block of clean transmissions, acknowledged K steps later."""
        m = self.symbols.draw(self.cfg.batch_size, "cpu", self.messages)
        with torch.no_grad():
            self.acks.append((self.iteration, self.step))
            self.post("rx", self.tx(m), last=True)
        while len(self.acks) > (0 if last else self.cfg.delay):
            await_reply(self.link, self.epoch, "feedback", *self.acks.popleft())

    def post(self, kind: str, block: torch.Tensor, last: bool) -> None:
        """Send the queued blocks and this step's ``block`` as one message, asking for a reply."""
        kinds, blocks = [k for k, _ in self.queued], [b for _, b in self.queued]
        self.send(self.iteration, self.step - len(kinds), [*kinds, kind], [*blocks, block], last=last, reply=True)
        self.queued = []
        self.step += 1

    def save(self, it: int) -> None:
        """Checkpoint the state after iteration ``it``: what :meth:`load` takes back."""
        self.store.save(
            it,
            self.tx.state_dict(),
            {
                "optimizer": self.opt.state_dict(),
                "messages": self.messages.get_state(),
                "exploration": self.exploration.get_state(),
                "baseline_running": self.baseline.running,
                "baseline_seen": self.baseline.seen,
                "uses": self.uses,
                "seconds": self.seconds,
                "metrics": self.metrics,
                "delay": self.delay.state_dict(),
            },
        )

    def evaluate(self, iteration: int) -> tuple[int, int]:
        """The final SER measurement's (errors, messages): codebook blocks of fresh messages until the stop
        rule of :func:`mfcomm.evaluation.ser.monte_carlo` holds, scored by the rx node."""
        cfg = self.cfg
        block = max(1, min(EVAL_BLOCK, (self.link.options.max_bytes - wire.HEADER_LIMIT) // (8 * cfg.channel_uses)))
        with torch.inference_mode():
            codebook = self.tx.codebook()
        errors = messages = step = 0
        while messages < cfg.eval_max_messages and (messages < cfg.eval_messages or errors < cfg.eval_target_errors):
            m = self.symbols.draw(min(block, cfg.eval_max_messages - messages), "cpu", self.messages)
            self.send(iteration, step, ["eval"], [codebook[m]], last=False, reply=True)
            counts = await_reply(self.link, self.epoch, "count", iteration, step).array
            assert counts is not None  # a count message carries its array (wire.decode checks)
            errors, messages = counts.tolist()
            step += 1
        return errors, messages

    def finish(self) -> None:
        """Tell the ring training is over and wait for the message to come round (all results written)."""
        self.link.send(wire.encode("done", epoch=self.epoch))
        while True:
            msg = self.link.receive("the other nodes to finish")
            if msg.type == "hello":
                raise Resync
            if msg.type == "error":
                raise self.link.pass_on_error(msg)
            if msg.type == "done" and msg["epoch"] == self.epoch:
                return


def run(cfg: Config, link: Link, store: Store, quiet: bool = True) -> dict:
    """Lead the ring through training, evaluation and ``done``; write and return the tx node's result."""
    node = TxNode(cfg, store, link)
    total = cfg.total_iterations
    with tqdm(total=total, desc="tx node", disable=quiet, unit="it", mininterval=0.5) as bar:
        while True:
            try:
                node.epoch, done = synchronise(link, node)
                bar.reset(total)
                bar.update(done)
                node.train(done, bar.update)
                errors, messages = node.evaluate(total + 1)
                node.finish()
                break
            except Resync:
                continue
    result = {
        "role": "tx",
        "metrics": node.metrics,
        "channel_uses_spent": node.uses,
        "train_seconds": round(node.seconds, 3),
        "eval_errors": errors,
        "eval_messages": messages,
        "rejected_messages": link.seal.rejected,
    }
    return store.finish(node.tx.state_dict(), result)

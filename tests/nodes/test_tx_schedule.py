"""The tx node runs Algorithm 1 (its bookkeeping: :class:`mfcomm.learning.loop.Loop`) with steps that are messages:
they follow the schedule the rx node expects, one round trip per transmitter step; its learning curve has the
rows ``mfcomm train`` logs; and a restart announced mid-iteration resumes bit for bit. A fake ring answers in
place of the channel and rx nodes (losses computed from the symbols it receives)."""

from collections import deque
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import load_file

from mfcomm.config.fields import Config
from mfcomm.config.files import configure
from mfcomm.learning.estimator import sigma2_at
from mfcomm.learning.loop import Loop
from mfcomm.nodes import tx_node, wire
from mfcomm.nodes.checkpoints import MODEL, Store
from mfcomm.nodes.rx_node import expected_kind

LIMIT = 1 << 30


class FakeRing:
    """The tx node's link, with the channel and rx nodes' replies: a ``hello`` (a node restarted) in place of the
    reply to data message number ``hello_at``."""

    def __init__(self, hello_at: int | None = None) -> None:
        self.options = SimpleNamespace(max_bytes=64 << 20, peer_timeout=5.0)
        self.seal = SimpleNamespace(rejected=0)
        self.role = "tx"
        self.inbox: deque[wire.Message] = deque()
        self.data: list[wire.Message] = []
        self.hello_at = hello_at
        self.counted = 0

    def send(self, frames: list[bytes], wait: float = 0.0) -> bool:
        msg = wire.decode(frames, LIMIT)
        if msg.type != "data":  # sync, resume, done: back round the ring
            self.inbox.append(msg)
            return True
        self.data.append(msg)
        if len(self.data) == self.hello_at:
            self.inbox.append(wire.decode(wire.encode("hello", role="rx"), LIMIT))
        elif msg["reply"]:
            self.inbox.append(wire.decode(self.reply(msg), LIMIT))
        return True

    def reply(self, msg: wire.Message) -> list[bytes]:
        x, kind = msg.array, msg["kinds"][-1]
        assert x is not None
        where = {"epoch": msg["epoch"], "iteration": msg["iteration"], "step": msg["step"] + len(msg["kinds"]) - 1}
        if kind == "eval":
            self.counted += x.shape[0]
            return wire.encode("count", torch.tensor([self.counted, self.counted]), **where)
        losses = (x[-msg["blocks"][-1] :].abs() ** 2).sum(1) if kind == "tx" else torch.empty(0)
        return wire.encode("feedback", losses, **where, lost="0")

    def poll(self, timeout: float) -> wire.Message | None:
        return self.inbox.popleft() if self.inbox else None

    def receive(self, waiting_for: str) -> wire.Message:
        return self.inbox.popleft()


def train(cfg: Config, state: Path, hello_at: int | None = None) -> tuple[dict, FakeRing]:
    torch.set_num_threads(1)
    ring = FakeRing(hello_at)
    return tx_node.run(cfg, ring, Store(state, cfg)), ring  # the fake ring stands in for the Link


CFG = {
    "iterations": 6,
    "finetune_iterations": 3,
    "rx_steps": 2,
    "tx_steps": 2,
    "batch_size": 32,
    "perturbations": 2,
    "log_every": 2,
    "lr_schedule": "cosine",
    "tx_warmup": 2,
}


def test_messages_follow_the_schedule_the_rx_node_expects_and_rows_are_those_of_mfcomm_train(tmp_path):
    cfg = configure(overrides={**CFG, "stop_early": True, "patience": 1})  # the nodes run no stop rule
    result, ring = train(cfg, tmp_path)
    total = cfg.iterations + cfg.finetune_iterations
    training = [m for m in ring.data if m["iteration"] <= total]
    for it in range(1, total + 1):
        messages = [m for m in training if m["iteration"] == it]
        steps = [(m["step"] + j, kind) for m in messages for j, kind in enumerate(m["kinds"])]
        assert steps == [(s, expected_kind(cfg, it, s)) for s in range(len(steps))]
        assert expected_kind(cfg, it, len(steps)) is None
        assert len(messages) == (cfg.tx_steps if it <= cfg.iterations else 1)  # one round trip per tx step
        assert [m["last"] for m in messages] == [False] * (len(messages) - 1) + [True]
        assert all(m["reply"] for m in messages)
    assert {m["iteration"] for m in ring.data} - set(range(1, total + 1)) == {total + 1}
    assert all(expected_kind(cfg, m["iteration"], m["step"]) == "eval" for m in ring.data[len(training) :])
    rows = result["metrics"]
    assert [r["iteration"] for r in rows] == [2, 4, 6, 8, 9]
    for r in rows[:3]:
        assert list(r) == ["iteration", "channel_uses", "seconds", "tx_loss", "sigma2"]
        sigma2 = sigma2_at(r["iteration"], cfg.iterations, cfg.exploration_sigma2, cfg.sigma2_final)
        assert r["sigma2"] == float(torch.tensor(sigma2))  # float32, as mfcomm train logs it
    assert [list(r) for r in rows[3:]] == [["iteration", "channel_uses", "seconds"]] * 2
    assert (
        rows[-1]["channel_uses"]
        == result["channel_uses_spent"]
        == 2 * sum(m.array.shape[0] for m in training if m.array is not None)
    )
    assert result["iterations_run"] == total and result["resumed_from"] == [0]


def test_a_restart_announced_mid_iteration_resumes_from_the_checkpoint_bit_for_bit(tmp_path):
    cfg = configure(overrides={**CFG, "checkpoint_every": 2})
    reference, _ = train(cfg, tmp_path / "reference")
    want = load_file(tmp_path / "reference" / MODEL)
    # the reply to iteration 5's second transmitter step; to fine-tuning iteration 8 (7 is redone)
    for hello_at, resumed, redone in ((2 * 4 + 2, 4, 0), (2 * 6 + 2, 6, 1)):
        result, _ = train(cfg, tmp_path / str(hello_at), hello_at)
        got = load_file(tmp_path / str(hello_at) / MODEL)
        assert got.keys() == want.keys() and all(torch.equal(got[k], v) for k, v in want.items())
        assert result["resumed_from"] == [0, resumed]
        assert result["iterations_run"] == reference["iterations_run"] + redone
        for key in ("metrics", "channel_uses_spent", "eval_errors", "eval_messages"):
            assert strip_seconds(result[key]) == strip_seconds(reference[key]), key


def strip_seconds(value):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in value] if isinstance(value, list) else value


def test_the_loop_watches_the_first_loss_an_iteration_reports_and_logs_rows_without_losses():
    """The tx node's receiver and fine-tuning steps report no loss (the rx node logs it): the plateau is that of
    the transmitter steps' losses, and fine-tuning rows hold no loss."""
    cfg = SimpleNamespace(iterations=300, finetune_iterations=2, log_every=100, patience=100, stop_early=True)
    rows: list[tuple[int, list[str]]] = []
    loop = Loop(cfg, lambda it, values: rows.append((it, sorted(values))))
    for _ in loop.iterations():
        loop.add("tx_loss", torch.tensor(1.0))
        loop.add("tx_loss", torch.tensor(1.0))
        loop.note(sigma2=0.1)
    assert list(loop.fine_tuning()) == [1, 2]
    assert loop.converged_at == 200
    assert rows == [(100, ["sigma2", "tx_loss"]), (200, ["sigma2", "tx_loss"]), (202, [])]

"""How one training is driven, for :func:`mfcomm.experiment.runs.train`: the seeded system and channel, the
training-time
clock, the rows of ``metrics.csv`` (with SER probes that leave training's random generators as they were), the
checkpoints, and the candidates tried before the main training.

Randomness: a run owns its random generators, all derived from its seed, and leaves torch's global generators
as it found them. :func:`~mfcomm.learning.seeding.run_generator` gives the run its own default generator, seeded
with the seed, for what draws from the default (network initialisation, the evaluation's messages, the
model-based and bit-wise steps); model-free training of symbols on the CPU draws from the per-role generators
of :mod:`mfcomm.learning.seeding` instead, so that one seed trains the same system in one process or in three.
The draws come in a fixed order: the system is built, then the channel is made; a probe or a log call leaves
every generator as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from mfcomm.channels.contract import BlackBox, Channel, Checked, as_channel
from mfcomm.channels.counting import Counted
from mfcomm.channels.spec import object_spec
from mfcomm.config.fields import Config
from mfcomm.config.files import to_toml
from mfcomm.errors import ConfigError, DivergedError, Interrupted, MfcommError
from mfcomm.evaluation.ser import learned_ser
from mfcomm.experiment import candidates
from mfcomm.experiment.tasks import Task, task_of
from mfcomm.learning import checkpointing, seeding
from mfcomm.learning.loop import metrics_row
from mfcomm.learning.model_based import train_model_based
from mfcomm.learning.model_free import train_model_free
from mfcomm.learning.seeding import Generators
from mfcomm.system.build import build_system, device_of

if TYPE_CHECKING:
    from tqdm import tqdm

    from mfcomm.experiment.run import Run


def channel_object(cfg: Config, channel: object | None) -> tuple[Config, Channel | None]:
    """``cfg`` and the channel to train through: None (the one ``cfg`` names), or ``channel`` as a
    :class:`~mfcomm.channels.contract.Channel`, with ``cfg`` then recording ``object:NAME`` as its channel."""
    if channel is None:
        return cfg, None
    given = as_channel(channel, timeout=cfg.channel_timeout or None)
    given = given if isinstance(given, BlackBox) else Checked(given)  # a black box checks its own outputs
    if cfg.method == "model-based" and not given.differentiable:
        raise ConfigError(
            f"channel {given.name} is a black box with no gradient: model-based training needs a differentiable "
            "channel (use method model-free)"
        )
    return dataclasses.replace(cfg, channel=object_spec(given.name)), given


def seeded_system(cfg: Config, task: Task) -> tuple[Any, Any, Generators, torch.Generator | None]:
    """The initial transmitter and receiver, the training generators and the channel's generator (None: the
    steps and the channel draw from the run's default generator, :func:`~mfcomm.learning.seeding.run_generator`)."""
    tx: Any
    rx: Any
    if cfg.task == "symbols" and cfg.method == "model-free" and device_of(cfg).type == "cpu":
        tx, rx = seeding.seeded_transmitter(cfg), seeding.seeded_receiver(cfg)
        return tx, rx, seeding.training_generators(cfg.seed), seeding.generator(cfg.seed, "channel")
    tx, rx = task.build(cfg)
    return tx, rx, Generators(), None


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[int]:
    """Torch on ``count`` CPU threads within the block (0: as it was), restored afterwards; yields the count in
    use, which the run records (torch's reductions, and so the trained weights, depend on it)."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield torch.get_num_threads()
    finally:
        if count:
            torch.set_num_threads(before)


class Clock:
    """Training time: seconds since the start (plus ``already``, a resumed run's), less the paused spans."""

    def __init__(self, already: float = 0.0) -> None:
        self.start = time.perf_counter() - already
        self.excluded = 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.excluded

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent inside (measuring SER, logging) does not count as training time."""
        t = time.perf_counter()
        try:
            yield
        finally:
            self.excluded += time.perf_counter() - t


class Session:
    """One training of ``cfg``: built as :func:`mfcomm.experiment.runs.train` starts (the random draws in the module
    docstring's order), then :meth:`train` runs it."""

    def __init__(self, cfg: Config, given: Channel | None, checkpoint: Path | None, resume: bool) -> None:
        self.cfg, self.checkpoint, self.task = cfg, checkpoint, task_of(cfg)
        self.resumed = checkpointing.read(checkpoint) if resume and checkpoint else None
        self.tx, self.rx, self.generators, self.generator = seeded_system(cfg, self.task)
        self.channel = Counted(self.task.channel(cfg, self.generator, given))
        self.clock = Clock(self.resumed["seconds"] if self.resumed else 0.0)
        self.total = cfg.total_iterations
        self.first = cfg.candidate_iterations * cfg.candidates if cfg.candidates > 1 else 0

    def train(self, run: Run, bar: tqdm, on_log: Callable[[dict[str, float], Run], None] | None) -> None:
        """Candidates first (unless resumed), then the main training with its checkpoints; an error names the
        last good checkpoint."""
        saver = functools.partial(self.save_state, run) if self.checkpoint else None
        state = checkpointing.TrainingState(self.cfg.checkpoint_every, saver, self.resumed)
        fit = functools.partial(self.fit, bar=bar)
        try:
            if self.cfg.candidates > 1 and not self.resumed:
                run.tx, run.rx, run.candidates = candidates.select(
                    self.cfg, self.channel, fit, build_system, (run.tx, run.rx)
                )
            bar.update(state.track(**self.tracked(run)) + (self.first if self.resumed else 0))
            with checkpointing.stop_signals() if self.checkpoint else contextlib.nullcontext():
                run.converged_at = fit(run.tx, run.rx, self.cfg, Logger(self, run, bar, on_log), state)
            state.checkpoint()  # an interrupted evaluation resumes straight to evaluation
        except MfcommError as err:
            if state.last_saved is None or isinstance(err, Interrupted):
                raise
            where = f"last good checkpoint: {self.checkpoint} (iteration {state.last_saved})"
            raise type(err)(f"{err}; {where}") from None

    def fit(
        self,
        tx: Any,
        rx: Any,
        c: Config,
        log: Callable = lambda *_: None,
        state: checkpointing.TrainingState | None = None,
        *,
        bar: tqdm,
    ) -> int | None:
        """Train ``tx`` and ``rx`` as ``c`` says; the iteration at which the stop rule fired, or None."""
        examples = self.task.examples(c)
        if c.method == "model-free":
            return train_model_free(tx, rx, self.channel, c, log, bar.update, self.generators, state, examples)
        return train_model_based(tx, rx, self.channel, c, log, bar.update, state, examples)

    def tracked(self, run: Run) -> dict[str, Any]:
        """What a checkpoint holds: networks, run, channel counter and every random generator."""
        generators = {k: g for k, g in vars(self.generators).items() if g is not None}
        return {
            "tx": run.tx,
            "rx": run.rx,
            "run": run,
            "channel": self.channel,
            "global_random": checkpointing.GlobalRandom(),
            **({"channel_generator": self.generator} if self.generator else {}),
            **{f"{k}_generator": g for k, g in generators.items()},
        }

    def save_state(self, run: Run, iteration: int, state: dict) -> None:
        """Write the checkpoint, never with a non-finite weight."""
        if not checkpointing.weights_finite({"tx": run.tx, "rx": run.rx}):
            raise DivergedError(f"training diverged at iteration {iteration}: a weight is not finite")
        assert self.checkpoint is not None  # save_state is used only with a checkpoint
        toml = to_toml(self.cfg)
        checkpointing.write(self.checkpoint, {**state, "config": toml, "seconds": self.clock.seconds()})

    def probe(self, run: Run) -> float:
        """SER on ``ser_messages`` fresh messages, drawn so that training's random generators stay as they were."""
        kept = self.generator.get_state() if self.generator else None
        with torch.random.fork_rng(devices=[]):
            n = self.cfg.ser_messages
            ser = learned_ser(run.tx, run.rx, self.channel.channel, 1, n, n).ser
        self.channel.skip()  # a radio's probe bursts are not training's air time
        if kept is not None and self.generator is not None:  # kept is set only with a generator
            self.generator.set_state(kept)
        return ser


class Logger:
    """The training loops' ``log(iteration, values)``: one row of ``metrics.csv`` (channel uses, seconds, the
    losses, and every ``ser_every`` iterations the SER), passed on to ``on_log``."""

    def __init__(
        self, session: Session, run: Run, bar: tqdm, on_log: Callable[[dict[str, float], Run], None] | None
    ) -> None:
        self.session, self.run, self.bar, self.on_log = session, run, bar, on_log

    def __call__(self, iteration: int, values: dict[str, torch.Tensor]) -> None:
        s, every = self.session, self.session.cfg.ser_every
        row = {**metrics_row(iteration, s.channel.uses, s.clock.seconds(), values), **s.channel.counters}
        if every and (iteration % every == 0 or iteration == s.total):
            with s.clock.paused():
                row["ser"] = s.probe(self.run)
        self.run.metrics.append(row)
        if self.on_log:
            with s.clock.paused():  # logging (TensorBoard figures) is not training time either
                self.on_log(row, self.run)
        self.bar.set_postfix({k: f"{float(v):.4f}" for k, v in values.items() if "loss" in k}, refresh=False)

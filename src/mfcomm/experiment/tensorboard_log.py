"""TensorBoard event files of a training run: the learning curve as scalars, the constellation as images.

``mfcomm train --tensorboard`` writes them into ``<run dir>/tensorboard/`` (view with ``make tensorboard
RUNS=DIR``); anything else that trains, such as a sweep trial, passes a :class:`TensorBoardLog` as (or calls it
from) the ``on_log`` of :func:`mfcomm.experiment.runs.train`. TensorBoard itself is imported on the first row, so a run
that does not log to it never loads it.
"""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from mfcomm.plots import constellation_figure

if TYPE_CHECKING:
    from mfcomm.experiment.run import Run

IMAGE_TAG = "constellation"


class TensorBoardLog:
    """An ``on_log(row, run)`` for :func:`mfcomm.experiment.runs.train` that writes TensorBoard event files.

    Parameters
    ----------
    directory : str | Path
        Where the event files go; created on the first row, so a run that logs nothing leaves nothing.
    every_image : int
        Iterations between constellation images (the first row's is drawn too, and :meth:`close` draws the
        last row's).

    Every numeric field of a row but ``iteration`` (``rx_loss``, ``tx_loss``, ``loss``, ``sigma2``, ``ser``,
    ``channel_uses``, ``seconds``) becomes a scalar of that name at step ``iteration``, in double precision, so
    the values are those of ``metrics.csv``; the transmitter's codebook ``run.tx.codebook()`` (complex (M, n))
    is drawn as the image ``constellation``, one panel per channel use. A resumed run writing into the same
    directory hides what the interrupted one logged from its first row on (``purge_step``).

    Use it as a context manager, or call :meth:`close` when training is done:

    >>> import tempfile, pathlib
    >>> from mfcomm.config.files import configure
    >>> from mfcomm.experiment import runs
    >>> cfg = configure(overrides={"iterations": 20, "batch_size": 64, "init": "random"})
    >>> directory = pathlib.Path(tempfile.mkdtemp()) / "tensorboard"
    >>> with TensorBoardLog(directory, every_image=10) as tensorboard:
    ...     run = runs.train(cfg, quiet=True, evaluate=False, on_log=tensorboard)
    >>> [p.name.startswith("events.out.tfevents.") for p in directory.iterdir()]
    [True]
    """

    def __init__(self, directory: str | Path, every_image: int = 500) -> None:
        if every_image < 1:
            raise ValueError(f"every_image must be >= 1, not {every_image}")
        self.directory, self.every_image = Path(directory), every_image
        self._writer: Any = None  # a torch.utils.tensorboard.SummaryWriter from the first row on
        self._drawn: int | None = None  # the step of the last constellation drawn
        self._latest: tuple[int, np.ndarray, bool] | None = None  # the last row's step, codebook, real signalling

    def __call__(self, row: dict[str, float], run: Run) -> None:
        step = int(row["iteration"])
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.directory), purge_step=step, flush_secs=10)
        for key, value in row.items():
            if key != "iteration" and isinstance(value, Real):
                self._writer.add_scalar(key, float(value), step, new_style=True, double_precision=True)
        with torch.no_grad():
            book = run.tx.codebook() if run.cfg.task == "symbols" else run.tx.points()[:, None]  # bits, ofdm: points
            self._latest = (step, book.cpu().numpy(), run.tx.real)
        if self._drawn is None or step // self.every_image > self._drawn // self.every_image:
            self._draw()

    def _draw(self) -> None:
        assert self._latest is not None  # drawn only after a row
        step, codebook, real = self._latest
        figure = constellation_figure(codebook, f"iteration {step}", real)
        self._writer.add_figure(IMAGE_TAG, figure, step, close=True)
        self._drawn = step

    def close(self) -> None:
        """Draw the last row's constellation if it is not drawn yet, and flush and close the event file."""
        if self._writer is None:
            return
        if self._latest is not None and self._drawn != self._latest[0]:
            self._draw()
        self._writer.close()
        self._writer = None

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

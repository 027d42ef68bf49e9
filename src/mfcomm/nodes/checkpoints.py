"""A node's state directory: its checkpoints and, once training is done, its result.

``STATE/ckpt-<iteration>/`` holds ``weights.safetensors`` (the node's network, if it has one), ``state.pt``
(optimizer and random-generator states, counters and learning-curve rows: tensors and plain values only,
read back with ``torch.load(..., weights_only=True)``) and ``meta.json`` (iteration and configuration
fingerprint). Each is written into a temporary directory that is then renamed, so a node killed while
writing leaves either the whole checkpoint or none. The newest ``KEEP`` are kept: peers may be up to one
checkpoint apart when a node dies, and they resume from the newest one all three hold.
Iteration 0, the fresh start from the seed, is always available. A node that starts keeps them all;
only the handshake's ``resume`` (:mod:`mfcomm.nodes.protocol`) drops those after the one all three restore.

``STATE/model.safetensors`` and ``STATE/result.json`` are written when the node finishes. The result says
where this process resumed training (``resumed_from``, one entry per handshake) and how many iterations it
completed (``iterations_run``, redone ones included): together they show what a restart cost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from mfcomm.config.fields import Config
from mfcomm.config.files import to_toml
from mfcomm.errors import NodeError

KEEP = 3
WEIGHTS, STATE, META, RESULT, MODEL = "weights.safetensors", "state.pt", "meta.json", "result.json", "model.safetensors"


def fingerprint(cfg: Config) -> str:
    """Short hash of the resolved configuration: nodes (and checkpoints) must agree on it."""
    return hashlib.sha256(to_toml(cfg).encode()).hexdigest()[:16]


class Store:
    """Checkpoints and results of one node, in ``directory``, for the configuration ``cfg``."""

    def __init__(self, directory: str | Path, cfg: Config):
        self.directory = Path(directory)
        self.fingerprint = fingerprint(cfg)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.resumed_from: list[int] = []
        self.iterations_run = 0
        """Iterations this process completed (its node counts them)."""

    def _path(self, iteration: int) -> Path:
        return self.directory / f"ckpt-{iteration:09d}"

    def iterations(self) -> list[int]:
        """Iterations this node can resume from, 0 (the fresh start) included, oldest first."""
        found = [0]
        for path in self.directory.glob("ckpt-*"):
            try:
                meta = json.loads((path / META).read_text())
            except (OSError, ValueError):
                continue
            if meta.get("fingerprint") == self.fingerprint and isinstance(meta.get("iteration"), int):
                found.append(meta["iteration"])
        return sorted(set(found))

    def save(self, iteration: int, weights: dict[str, torch.Tensor] | None, state: dict[str, Any]) -> None:
        """Write checkpoint ``iteration`` atomically, then drop all but the newest KEEP."""
        tmp = self.directory / f".ckpt-{iteration:09d}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if weights is not None:
            save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp / WEIGHTS)
        torch.save(state, tmp / STATE)
        (tmp / META).write_text(json.dumps({"iteration": iteration, "fingerprint": self.fingerprint}))
        final = self._path(iteration)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in self.iterations()[1:-KEEP]:
            shutil.rmtree(self._path(old), ignore_errors=True)

    def load(self, iteration: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Weights (empty if the node has none) and state of checkpoint ``iteration``."""
        path = self._path(iteration)
        try:
            weights = load_file(path / WEIGHTS) if (path / WEIGHTS).is_file() else {}
            return weights, torch.load(path / STATE, weights_only=True)
        except Exception as err:  # noqa: BLE001 - a damaged file: one line naming it
            raise NodeError(f"cannot load checkpoint {path}: {type(err).__name__}: {err}") from None

    def resume(self, iteration: int) -> None:
        """Training resumes from ``iteration``: note it, and forget newer checkpoints (a future it overwrites)."""
        self.resumed_from.append(iteration)
        for newer in [i for i in self.iterations() if i > iteration]:
            shutil.rmtree(self._path(newer), ignore_errors=True)

    def finish(self, weights: dict[str, torch.Tensor] | None, result: dict[str, Any]) -> dict[str, Any]:
        """Write the node's final weights and ``result.json`` (each written then renamed); returns the result."""
        if weights is not None:
            tmp = self.directory / f".{MODEL}.tmp"
            save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, tmp)
            os.replace(tmp, self.directory / MODEL)
        tmp = self.directory / f".{RESULT}.tmp"
        result = {
            "fingerprint": self.fingerprint,
            "resumed_from": self.resumed_from,
            "iterations_run": self.iterations_run,
            **result,
        }
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        os.replace(tmp, self.directory / RESULT)
        return result


class Role:
    """A node's role over its :class:`Store`: the protocol's ``checkpoints`` and ``restore``
    (:class:`mfcomm.nodes.protocol.Node`), with what a checkpoint restores left to the role's :meth:`load`."""

    store: Store

    def checkpoints(self) -> list[int]:
        return self.store.iterations()

    def restore(self, iteration: int) -> None:
        self.load(iteration)
        self.store.resume(iteration)

    def load(self, iteration: int) -> None:
        """Take the state after ``iteration`` (0: the fresh start from the seed) from its checkpoint."""
        raise NotImplementedError

    def after_resume(self, epoch: int) -> None:
        """The handshake is over; a role with messages to send again overrides this."""

"""The wire format of three-process training: a JSON header frame, then at most one raw array frame.

Each message is one ZeroMQ multipart message (behind the authentication frame that the link adds and
checks, :mod:`mfcomm.nodes.auth`):

- frame 0: a UTF-8 JSON object of at most ``HEADER_LIMIT`` bytes, ``{"v": 1, "type": ..., ...}`` with
  exactly the fields its type lists below, plus ``"dtype"`` and ``"shape"`` when it carries an array;
- frame 1 (arrays only): the array's bytes, C order, native (little-endian) byte order.

============  ==========================================  ==========================================
type          fields                                      array
============  ==========================================  ==========================================
``hello``     role (a node that has just started)         --
``sync``      epoch, have (checkpoints)                   --
``resume``    epoch, iteration (checkpoint to restore)    --
``data``      epoch, iteration, step, kinds, blocks,      complex64 (batch, n): symbols x or y, the
              last, reply                                 blocks of consecutive steps one after another
``feedback``  epoch, iteration, step, lost (the frames     float32: the per-example losses that arrived
              lost, a bit mask in hex)
``count``     epoch, iteration, step                      int64 (2,): errors and messages so far
``done``      epoch                                       --
``error``     role, text                                  --
============  ==========================================  ==========================================

Nothing is ever unpickled. :func:`decode` checks the size limit, the header's fields and their types, the
dtype, the rank, that the payload holds exactly ``shape`` elements and that they are finite; anything
else is a one-line :class:`~mfcomm.errors.NodeError`.

Example
-------
>>> import torch
>>> frames = encode("feedback", torch.tensor([0.5, 1.5]), epoch=7, iteration=1, step=1, lost="0")
>>> msg = decode(frames, max_bytes=1 << 20)
>>> msg.type, msg["iteration"], msg.array.tolist()
('feedback', 1, [0.5, 1.5])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mfcomm.errors import NodeError

VERSION = 1
HEADER_LIMIT = 4096
"""Bytes a header may take."""
ROLES = ("tx", "channel", "rx")
KINDS = ("rx", "tx", "eval")
"""What a block of a ``data`` message is for: a receiver step, a transmitter step, or final evaluation.
A data message holds the blocks of steps ``step, step + 1, ...`` (``kinds`` and ``blocks``, their rows)."""

DTYPES = {"complex64": torch.complex64, "float32": torch.float32, "int64": torch.int64}
SCHEMA: dict[str, tuple[dict[str, type], tuple[str, int] | None]] = {
    "hello": ({"role": str}, None),
    "sync": ({"epoch": int, "have": list}, None),
    "resume": ({"epoch": int, "iteration": int}, None),
    "data": (
        {"epoch": int, "iteration": int, "step": int, "kinds": list, "blocks": list, "last": bool, "reply": bool},
        ("complex64", 2),
    ),
    "feedback": ({"epoch": int, "iteration": int, "step": int, "lost": str}, ("float32", 1)),
    "count": ({"epoch": int, "iteration": int, "step": int}, ("int64", 1)),
    "done": ({"epoch": int}, None),
    "error": ({"role": str, "text": str}, None),
}
"""Per type: the header fields and their types, and the array's (dtype, rank) if it carries one."""


@dataclass
class Message:
    """A decoded, validated message: its header fields, its array (or None) and its raw frames."""

    header: dict[str, Any]
    array: torch.Tensor | None
    frames: list[bytes]

    @property
    def type(self) -> str:
        return self.header["type"]

    def __getitem__(self, field: str) -> Any:
        return self.header[field]


def encode(msg_type: str, array: torch.Tensor | None = None, /, **fields: Any) -> list[bytes]:
    """Frames of a message of type ``msg_type`` with header ``fields`` and, if its type has one, ``array``."""
    names, spec = SCHEMA[msg_type]
    if set(fields) != set(names) or (spec is None) != (array is None):
        raise ValueError(f"{msg_type} message needs fields {sorted(names)}" + (" and an array" if spec else ""))
    header = {"v": VERSION, "type": msg_type, **fields}
    frames = []
    if array is not None:
        assert spec is not None  # checked above: a type has an array exactly when it has a spec
        dtype, rank = spec
        if array.dtype != DTYPES[dtype] or array.dim() != rank:
            raise NodeError(
                f"cannot send {array.dtype} of shape {tuple(array.shape)} as a {msg_type} message "
                f"(expected {dtype}, {rank}-D)"
            )
        data = array.detach().to("cpu").contiguous().numpy()
        header.update(dtype=dtype, shape=list(data.shape))
        frames.append(data.reshape(-1).view(np.uint8).tobytes())
    return [json.dumps(header, separators=(",", ":")).encode(), *frames]


def decode(frames: list[bytes], max_bytes: int) -> Message:
    """Validate ``frames`` against the wire format and the size limit; a violation is a NodeError."""
    size = sum(len(f) for f in frames)
    if size > max_bytes:
        raise NodeError(f"message of {size} bytes exceeds the limit of {max_bytes} bytes (--max-message-mb)")
    if not 1 <= len(frames) <= 2:
        raise _malformed(f"{len(frames)} frames, expected 1 or 2")
    if len(frames[0]) > HEADER_LIMIT:
        raise _malformed(f"header of {len(frames[0])} bytes, the limit is {HEADER_LIMIT}")
    try:
        header = json.loads(frames[0].decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _malformed("header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise _malformed("header is not a JSON object")
    if header.get("v") != VERSION:
        raise _malformed(f"wire version {header.get('v')!r}, expected {VERSION}")
    msg_type = header.get("type")
    if msg_type not in SCHEMA:
        raise _malformed(f"unknown type {msg_type!r}")
    names, spec = SCHEMA[msg_type]
    expected = {"v", "type", *names, *(("dtype", "shape") if spec else ())}
    if set(header) != expected:
        raise _malformed(f"{msg_type} header has fields {sorted(header)}, expected {sorted(expected)}")
    for name, typ in names.items():
        _check_field(msg_type, name, header[name], typ)
    if msg_type == "data" and not (
        header["kinds"] and all(k in KINDS for k in header["kinds"]) and len(header["blocks"]) == len(header["kinds"])
    ):
        raise _malformed(
            f"data kinds {header['kinds']!r} with blocks {header['blocks']!r}: expected one or more "
            f"of {', '.join(KINDS)} and as many row counts"
        )
    if msg_type in ("hello", "error") and header["role"] not in ROLES:
        raise _malformed(f"role {header['role']!r}, expected one of {', '.join(ROLES)}")
    array = _array(msg_type, header, frames, spec) if spec else None
    if msg_type == "data":
        assert array is not None  # data messages have an array spec
        if sum(header["blocks"]) != array.shape[0]:
            raise _malformed(f"data blocks {header['blocks']} do not add up to its {array.shape[0]} rows")
    if not spec and len(frames) != 1:
        raise _malformed(f"{msg_type} message carries a payload it should not have")
    return Message(header, array, frames)


def _check_field(msg_type: str, name: str, value: Any, typ: type) -> None:
    ok = isinstance(value, typ) and not (typ is int and isinstance(value, bool))
    if ok and typ is list:  # of kinds, or of non-negative integers
        ok = (
            all(isinstance(v, str) for v in value)
            if name == "kinds"
            else all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        )
    if ok and typ is int:
        ok = value >= 0
    if not ok:
        raise _malformed(f"{msg_type} field {name} = {value!r} is not a valid {typ.__name__}")


def _array(msg_type: str, header: dict[str, Any], frames: list[bytes], spec: tuple[str, int]) -> torch.Tensor:
    """The payload as a tensor, after checking dtype, rank, size and finiteness."""
    dtype, rank = spec
    shape = header["shape"]
    if header["dtype"] != dtype:
        raise _malformed(f"{msg_type} payload dtype {header['dtype']!r}, expected {dtype}")
    if not (
        isinstance(shape, list)
        and len(shape) == rank
        and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise _malformed(f"{msg_type} payload shape {shape!r}, expected {rank} non-negative integers")
    if len(frames) != 2:
        raise _malformed(f"{msg_type} message has no payload frame")
    itemsize = DTYPES[dtype].itemsize
    if len(frames[1]) != math.prod(shape) * itemsize:
        raise _malformed(f"{msg_type} payload of {len(frames[1])} bytes does not hold shape {shape} of {dtype}")
    array = (
        torch.frombuffer(bytearray(frames[1]), dtype=DTYPES[dtype]).reshape(shape)
        if frames[1]
        else torch.empty(shape, dtype=DTYPES[dtype])
    )
    if (array.is_floating_point() or array.is_complex()) and not bool(torch.isfinite(array).all()):
        raise _malformed(f"{msg_type} payload has non-finite values (NaN or inf)")
    return array


def _malformed(reason: str) -> NodeError:
    return NodeError(f"malformed message: {reason}")

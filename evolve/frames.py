"""The wire format between a sandboxed child and its worker: small, versioned, capped, raw.

A frame is `MAGIC | u32 header length | u64 payload length | JSON header | payload`. The header
names the frame's type and its arrays (name, dtype, shape); the payload is the arrays' raw bytes,
uncompressed, one after the other. Nothing is unpickled or inflated, every size is checked
against a cap before a byte is buffered, and any violation raises `FrameError`: the worker turns
it into the candidate's `invalid_output`, never into an exception that reaches the engine.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

import numpy as np

MAGIC = b"EVF1"
_PREFIX = struct.Struct("<4sIQ")
PREFIX_SIZE = _PREFIX.size
MAX_HEADER = 1 << 20
MAX_ARRAYS = 64
MAX_NDIM = 6
# Plain numeric dtypes only: no objects, strings, records or datetimes.
DTYPES = frozenset({"|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f4", "<f8"})


class FrameError(Exception):
    """A frame from the candidate's side is malformed, oversized or out of protocol."""


def encode(header: dict[str, Any], arrays: dict[str, Any] | None = None) -> bytes:
    """One frame: `header` (JSON-able) plus numeric `arrays` as raw little-endian bytes."""
    specs, chunks = [], []
    for name, value in (arrays or {}).items():
        a = np.ascontiguousarray(value)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        specs.append({"name": str(name), "dtype": a.dtype.str, "shape": list(a.shape)})
        chunks.append(a.tobytes())
    head = json.dumps({**header, "arrays": specs}, default=float).encode()
    payload = b"".join(chunks)
    return _PREFIX.pack(MAGIC, len(head), len(payload)) + head + payload


def frame_length(prefix: bytes) -> int:
    """The whole frame's length in bytes, from its first PREFIX_SIZE bytes."""
    magic, hl, pl = _PREFIX.unpack_from(prefix)
    if magic != MAGIC or hl > MAX_HEADER:
        raise FrameError("bad frame prefix")
    return _PREFIX.size + hl + pl


def write(fd: int, header: dict[str, Any], arrays: dict[str, Any] | None = None) -> None:
    """Write one whole frame to `fd` (blocking)."""
    view = memoryview(encode(header, arrays))
    while view:
        view = view[os.write(fd, view):]


def _arrays(specs: Any, payload: bytes) -> dict[str, np.ndarray]:
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise FrameError("bad array list")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) != {"name", "dtype", "shape"}:
            raise FrameError("bad array description")
        name, dtype, shape = spec["name"], spec["dtype"], spec["shape"]
        if not isinstance(name, str) or len(name) > 200 or name in out:
            raise FrameError("bad array name")
        if dtype not in DTYPES:
            raise FrameError(f"array {name[:40]!r}: dtype {str(dtype)[:20]!r} is not a plain "
                             "number type")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise FrameError(f"array {name[:40]!r}: bad shape")
        dt = np.dtype(dtype)
        size = dt.itemsize * int(np.prod(shape, dtype=object))
        if offset + size > len(payload):
            raise FrameError(f"array {name[:40]!r}: payload too short")
        out[name] = np.frombuffer(payload, dtype=dt, count=size // dt.itemsize,
                                  offset=offset).reshape(shape)
        offset += size
    if offset != len(payload):
        raise FrameError("payload longer than its arrays")
    return out


def decode(head: bytes, payload: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Parse one frame's header and payload; raise FrameError on anything unexpected."""
    try:
        header = json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise FrameError(f"header is not JSON ({type(e).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise FrameError("header has no type")
    arrays = _arrays(header.pop("arrays", []), payload)
    return header, arrays


class FrameReader:
    """Reassembles frames from a byte stream, refusing any frame past the caps."""

    def __init__(self, max_payload: int, max_total: int):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.max_total = max_total
        self.total = 0

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], dict[str, np.ndarray]]]:
        """Add bytes; return the complete frames (raises FrameError on a violation)."""
        done = []
        self.total += len(data)
        if self.total > self.max_total:
            raise FrameError(f"more than {self.max_total >> 20} MB of results")
        self.buf += data
        while len(self.buf) >= _PREFIX.size:
            magic, hl, pl = _PREFIX.unpack_from(self.buf)
            if magic != MAGIC:
                raise FrameError("bad frame magic (not the result protocol)")
            if hl > MAX_HEADER:
                raise FrameError(f"header of {hl} bytes (cap {MAX_HEADER})")
            if pl > self.max_payload:
                raise FrameError(f"result of {pl >> 20} MB (cap {self.max_payload >> 20} MB)")
            end = _PREFIX.size + hl + pl
            if len(self.buf) < end:
                break
            head = bytes(self.buf[_PREFIX.size:_PREFIX.size + hl])
            payload = bytes(self.buf[_PREFIX.size + hl:end])
            del self.buf[:end]
            done.append(decode(head, payload))
        return done


def text(value: Any, cap: int) -> str:
    """A header field that should be text, as capped text (anything else becomes '')."""
    return value[:cap] if isinstance(value, str) else ""


def read_one(fd: int) -> dict[str, Any] | None:
    """The header of the one frame a standby child waits for (its task, from the trusted
    worker), read to its last byte and no further: the frames behind it are the runner's (a
    streamed stage's inputs). None when the pipe closes first."""
    head = read_exactly(fd, PREFIX_SIZE)
    rest = None if head is None else read_exactly(fd, frame_length(head) - len(head))
    if head is None or rest is None:
        return None
    got = FrameReader(1 << 30, 1 << 40).feed(head + rest)
    return got[0][0] if got else None


def read_exactly(fd: int, n: int) -> bytes | None:
    """Exactly n bytes from `fd` (blocking), or None at end-of-file."""
    buf = bytearray()
    while len(buf) < n:
        data = os.read(fd, n - len(buf))
        if not data:
            return None
        buf += data
    return bytes(buf)

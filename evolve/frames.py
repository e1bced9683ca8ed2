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


# (name, dtype, element count, byte offset, shape) of each array of a frame
Layout = tuple[tuple[str, np.dtype, int, int, tuple[int, ...]], ...]
SCALARS = (str, int, float, bool, type(None))
EXACT = (str, int, bool, type(None))  # scalars whose equal values have the same JSON
# Parsed headers by their exact bytes: a streamed problem sends the same header every round.
# Only small flat headers (scalar values) are kept, so a caller cannot alter a cached one and a
# child sending new headers fills at most MAX_PARSED * MAX_PARSED_HEADER bytes of the worker.
_PARSED: dict[bytes, tuple[dict[str, Any], Layout, int]] = {}
MAX_PARSED = 256
MAX_PARSED_HEADER = 4096
_ENCODED: dict[tuple, bytes] = {}  # header bytes by header and array specs, likewise


class FrameError(Exception):
    """A frame from the candidate's side is malformed, oversized or out of protocol."""


def encode(header: dict[str, Any], arrays: dict[str, Any] | None = None) -> bytes:
    """One frame: `header` (JSON-able) plus numeric `arrays` as raw little-endian bytes."""
    specs: list[tuple[str, str, tuple[int, ...]]] = []
    chunks: list[Any] = []  # byte views of the arrays (joined once)
    for name, value in (arrays or {}).items():
        a = np.ascontiguousarray(value)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        specs.append((str(name), a.dtype.str, a.shape))
        chunks.append(a.reshape(-1).view(np.uint8) if a.size else b"")
    key = None
    # no floats (0.0 and -0.0 are equal keys, not equal JSON); the type: 1 and True differ
    if all(isinstance(v, EXACT) for v in header.values()):
        key = (tuple((k, type(v), v) for k, v in header.items()), tuple(specs))
    head = _ENCODED.get(key) if key is not None else None
    if head is None:
        listed = [{"name": n, "dtype": d, "shape": list(shape)} for n, d, shape in specs]
        head = json.dumps({**header, "arrays": listed}, default=float).encode()
        if key is not None and len(_ENCODED) < MAX_PARSED:
            _ENCODED[key] = head
    size = sum(len(c) for c in chunks)
    return b"".join([_PREFIX.pack(MAGIC, len(head), size), head, *chunks])  # one copy


def frame_length(data: bytes | bytearray, pos: int = 0, max_payload: int | None = None) -> int:
    """The whole length in bytes of the frame whose PREFIX_SIZE-byte prefix starts at `pos`,
    checked against the caps before any of its bytes are kept."""
    magic, hl, pl = _PREFIX.unpack_from(data, pos)
    if magic != MAGIC:
        raise FrameError("bad frame magic (not the result protocol)")
    if hl > MAX_HEADER:
        raise FrameError(f"header of {hl} bytes (cap {MAX_HEADER})")
    if max_payload is not None and pl > max_payload:
        raise FrameError(f"result of {pl >> 20} MB (cap {max_payload >> 20} MB)")
    return _PREFIX.size + hl + pl


def write(fd: int, header: dict[str, Any], arrays: dict[str, Any] | None = None) -> None:
    """Write one whole frame to `fd` (blocking)."""
    view = memoryview(encode(header, arrays))
    while view:
        view = view[os.write(fd, view):]


def _layout(specs: Any) -> tuple[Layout, int]:
    """Each array's place in the payload, and the payload's length, from the header's list."""
    if not isinstance(specs, list) or len(specs) > MAX_ARRAYS:
        raise FrameError("bad array list")
    out = []
    names: set[str] = set()
    offset = 0
    for spec in specs:
        if not isinstance(spec, dict) or set(spec) != {"name", "dtype", "shape"}:
            raise FrameError("bad array description")
        name, dtype, shape = spec["name"], spec["dtype"], spec["shape"]
        if not isinstance(name, str) or len(name) > 200 or name in names:
            raise FrameError("bad array name")
        if dtype not in DTYPES:
            raise FrameError(f"array {name[:40]!r}: dtype {str(dtype)[:20]!r} is not a plain "
                             "number type")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise FrameError(f"array {name[:40]!r}: bad shape")
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=object))
        names.add(name)
        out.append((name, dt, count, offset, tuple(shape)))
        offset += dt.itemsize * count
    return tuple(out), offset


def _arrays(layout: Layout, size: int, payload: bytes | memoryview) -> dict[str, np.ndarray]:
    if size != len(payload):
        short = [name for name, dt, count, offset, _ in layout
                 if offset + dt.itemsize * count > len(payload)]
        raise FrameError(f"array {short[0][:40]!r}: payload too short" if short
                         else "payload longer than its arrays")
    return {name: np.frombuffer(payload, dtype=dt, count=count, offset=offset).reshape(shape)
            for name, dt, count, offset, shape in layout}


Frame = tuple[dict[str, Any], dict[str, np.ndarray]]


def decode(head: bytes, payload: bytes | memoryview) -> Frame:
    """Parse one frame's header and payload; raise FrameError on anything unexpected."""
    known = _PARSED.get(head)
    if known is not None:
        header, layout, size = known
        return dict(header), _arrays(layout, size, payload)
    try:
        header = json.loads(head.decode("utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as e:
        raise FrameError(f"header is not JSON ({type(e).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise FrameError("header has no type")
    layout, size = _layout(header.pop("arrays", []))
    arrays = _arrays(layout, size, payload)
    if len(_PARSED) < MAX_PARSED and len(head) <= MAX_PARSED_HEADER \
            and all(isinstance(v, SCALARS) for v in header.values()):
        _PARSED[head] = (dict(header), layout, size)
    return header, arrays


class FrameReader:
    """Reassembles frames from a byte stream, refusing any frame past the caps."""

    def __init__(self, max_payload: int, max_total: int):
        self.buf = bytearray()
        self.max_payload = max_payload
        self.max_total = max_total
        self.total = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add bytes; return the complete frames (raises FrameError on a violation). A frame's
        arrays are read-only views of the bytes it came in: each byte is copied at most once."""
        self.total += len(data)
        if self.total > self.max_total:
            raise FrameError(f"more than {self.max_total >> 20} MB of results")
        if self.buf:  # the rest of a frame: wait until it is whole, then take the bytes once
            self.buf += data
            if len(self.buf) < self._whole(self.buf, 0):
                return []
            data = bytes(self.buf)
            self.buf.clear()
        done = []
        view = memoryview(data)
        pos = 0
        while len(data) - pos >= _PREFIX.size and len(data) >= (end := self._whole(data, pos)):
            _, hl, _ = _PREFIX.unpack_from(data, pos)
            head = bytes(view[pos + _PREFIX.size:pos + _PREFIX.size + hl])
            done.append(decode(head, view[pos + _PREFIX.size + hl:end]))
            pos = end
        if pos < len(data):
            self.buf += view[pos:]
        return done

    def _whole(self, data: bytes | bytearray, pos: int) -> int:
        """Where the frame that starts at `pos` ends (past the end of `data` if it is cut)."""
        if len(data) - pos < _PREFIX.size:
            return pos + _PREFIX.size
        return pos + frame_length(data, pos, self.max_payload)


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

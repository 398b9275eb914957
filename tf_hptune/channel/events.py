"""Read scalar summaries from TensorFlow event files without importing TensorFlow.

Event files are TFRecord files of serialized ``tensorflow.Event`` protos. This module decodes the
framing, checks CRC32C and hand-decodes the few proto fields needed to pull out scalar
summaries, both TF1 style (``Summary.Value.simple_value``) and TF2 style (a scalar numeric
``Summary.Value.tensor``). Everything else (graphs, histograms, images, text such as Estimator's
``checkpoint_path``) is skipped.

Files may be read while a trainer is still writing them: a truncated trailing record or a CRC
mismatch stops the read, and the next call resumes from the last good record.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from tf_hptune.files import open_regular

__all__ = [
    "EVAL_DIR_PREFIXES",
    "EventDirectoryScanner",
    "EventFileReader",
    "ScalarEvent",
    "crc32c",
    "is_event_file",
    "masked_crc32c",
]

log = logging.getLogger(__name__)

EVENT_FILE_PREFIX = "events.out.tfevents."
#: Directory names (relative to the scanned root) whose summaries are evaluation results.
#: ``eval*`` is where Estimator writes evaluations; ``validation`` is Keras' TensorBoard callback.
EVAL_DIR_PREFIXES: tuple[str, ...] = ("eval", "validation")
#: Directories never scanned: the tuner's own bookkeeping.
SKIP_DIR_NAMES: frozenset[str] = frozenset({"tf_hptune"})
MAX_OTHER_TAGS = 50  # other tags kept to name in a "metric never reported" message

# ---------------------------------------------------------------------------------------------
# CRC32C (Castagnoli), table driven, slicing by 8.

_POLY = 0x82F63B78


def _make_tables() -> list[list[int]]:
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        t0.append(c)
    tables = [t0]
    for _ in range(7):
        prev = tables[-1]
        tables.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    return tables


_TABLES = _make_tables()
_UNPACK8 = struct.Struct("8B").iter_unpack


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC32C of ``data``, continuing from ``crc`` (0 to start)."""
    t0, t1, t2, t3, t4, t5, t6, t7 = _TABLES
    crc ^= 0xFFFFFFFF
    view = memoryview(data)
    n = len(view)
    m = n - n % 8
    for b0, b1, b2, b3, b4, b5, b6, b7 in _UNPACK8(view[:m]):
        crc = (
            t7[(crc ^ b0) & 0xFF]
            ^ t6[((crc >> 8) ^ b1) & 0xFF]
            ^ t5[((crc >> 16) ^ b2) & 0xFF]
            ^ t4[(crc >> 24) ^ b3]
            ^ t3[b4]
            ^ t2[b5]
            ^ t1[b6]
            ^ t0[b7]
        )
    for b in view[m:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The masked CRC that TFRecord framing stores."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---------------------------------------------------------------------------------------------
# Minimal protobuf wire-format decoding.

_VARINT, _FIXED64, _LEN, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


class _DecodeError(ValueError):
    """A malformed proto message."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise _DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _DecodeError("varint too long")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """Yield ``(field_number, wire_type, value)``; LEN values are bytes, others ints/bytes."""
    pos = 0
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _DecodeError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
            yield field, wire, value
        elif wire == _FIXED64:
            if pos + 8 > end:
                raise _DecodeError("truncated fixed64")
            yield field, wire, buf[pos : pos + 8]
            pos += 8
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise _DecodeError("truncated length-delimited field")
            yield field, wire, buf[pos : pos + size]
            pos += size
        elif wire == _FIXED32:
            if pos + 4 > end:
                raise _DecodeError("truncated fixed32")
            yield field, wire, buf[pos : pos + 4]
            pos += 4
        elif wire == _START_GROUP:
            pos = _skip_group(buf, pos, field)
        else:
            raise _DecodeError(f"unexpected wire type {wire}")


def _skip_group(buf: bytes, pos: int, group_field: int) -> int:
    end = len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, pos = _varint(buf, pos)
        elif wire == _FIXED64:
            pos += 8
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            pos += size
        elif wire == _FIXED32:
            pos += 4
        elif wire == _START_GROUP:
            pos = _skip_group(buf, pos, field)
        elif wire == _END_GROUP:
            if field != group_field:
                raise _DecodeError("mismatched end group")
            return pos
        else:
            raise _DecodeError(f"unexpected wire type {wire}")
    raise _DecodeError("truncated group")


def _signed64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v >= 1 << 63 else v


def _packed_varints(buf: bytes) -> list[int]:
    out = []
    pos = 0
    while pos < len(buf):
        v, pos = _varint(buf, pos)
        out.append(v)
    return out


# TensorFlow DataType enum values: numeric dtypes this reader converts, with their element
# struct format in ``tensor_content`` (little endian).
_DT_FLOAT, _DT_DOUBLE, _DT_INT32, _DT_UINT8, _DT_INT16, _DT_INT8 = 1, 2, 3, 4, 5, 6
_DT_INT64, _DT_BOOL, _DT_BFLOAT16, _DT_UINT16 = 9, 10, 14, 17
_DT_HALF, _DT_UINT32, _DT_UINT64 = 19, 22, 23
_CONTENT_FORMAT = {
    _DT_FLOAT: "<f",
    _DT_DOUBLE: "<d",
    _DT_INT32: "<i",
    _DT_UINT8: "<B",
    _DT_INT16: "<h",
    _DT_INT8: "<b",
    _DT_INT64: "<q",
    _DT_BOOL: "<?",
    _DT_BFLOAT16: "<H",  # upper half of a float32, converted below
    _DT_UINT16: "<H",
    _DT_HALF: "<e",
    _DT_UINT32: "<I",
    _DT_UINT64: "<Q",
}


def _bits_to_half(bits: int) -> float:
    return struct.unpack("<e", struct.pack("<H", bits & 0xFFFF))[0]


def _bits_to_bfloat16(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", (bits & 0xFFFF) << 16))[0]


def _shape_elements(shape: bytes) -> int | None:
    """Number of elements of a ``TensorShapeProto``; None for unknown rank."""
    count = 1
    for field, wire, value in _fields(shape):
        if field == 2 and wire == _LEN:  # dim
            size = 0
            for f, w, v in _fields(value):  # type: ignore[arg-type]
                if f == 1 and w == _VARINT:
                    size = _signed64(v)  # type: ignore[arg-type]
            if size < 0:
                return None
            count *= size
        elif field == 3 and wire == _VARINT and value:  # unknown_rank
            return None
    return count


def _tensor_scalar(tensor: bytes) -> float | None:
    """The value of a scalar numeric ``TensorProto``, else None."""
    dtype = 0
    shape = b""
    content: bytes | None = None
    values: list[float] = []
    for field, wire, value in _fields(tensor):
        if field == 1 and wire == _VARINT:
            dtype = value  # type: ignore[assignment]
        elif field == 2 and wire == _LEN:
            shape = value  # type: ignore[assignment]
        elif field == 4 and wire == _LEN:
            content = value  # type: ignore[assignment]
        elif field == 5:  # float_val
            if wire == _LEN:
                values.extend(v for (v,) in struct.iter_unpack("<f", value))  # type: ignore
            elif wire == _FIXED32:
                values.append(struct.unpack("<f", value)[0])  # type: ignore[arg-type]
        elif field == 6:  # double_val
            if wire == _LEN:
                values.extend(v for (v,) in struct.iter_unpack("<d", value))  # type: ignore
            elif wire == _FIXED64:
                values.append(struct.unpack("<d", value)[0])  # type: ignore[arg-type]
        elif field in (7, 10, 11, 13, 16, 17):  # int_val, int64_val, bool_val, half_val, uint*
            if wire not in (_LEN, _VARINT):
                continue
            ints = _packed_varints(value) if wire == _LEN else [value]  # type: ignore
            if field in (7, 10):
                values.extend(_signed64(v) for v in ints)  # type: ignore[arg-type]
            elif field == 13:
                conv = _bits_to_bfloat16 if dtype == _DT_BFLOAT16 else _bits_to_half
                values.extend(conv(v) for v in ints)  # type: ignore[arg-type]
            else:
                values.extend(ints)  # type: ignore[arg-type]
    fmt = _CONTENT_FORMAT.get(dtype)  # type: ignore[call-overload]
    if fmt is None:
        return None  # strings, complex numbers, resources, variants
    if _shape_elements(shape) != 1:
        return None
    if content is not None and len(content) > 0:
        if len(content) != struct.calcsize(fmt):
            return None
        (raw,) = struct.unpack(fmt, content)
        if dtype == _DT_BFLOAT16:
            return _bits_to_bfloat16(raw)
        return float(raw)
    if values:
        return float(values[0])
    return 0.0  # all values omitted: TensorFlow reads zeros


def _decode_scalars(record: bytes) -> list[ScalarEvent]:
    """Scalar summaries in one serialized ``Event``."""
    wall_time = 0.0
    step = 0
    summaries: list[bytes] = []
    for field, wire, value in _fields(record):
        if field == 1 and wire == _FIXED64:
            wall_time = struct.unpack("<d", value)[0]  # type: ignore[arg-type]
        elif field == 2 and wire == _VARINT:
            step = _signed64(value)  # type: ignore[arg-type]
        elif field == 5 and wire == _LEN:
            summaries.append(value)  # type: ignore[arg-type]
    out = []
    for summary in summaries:
        for field, wire, value in _fields(summary):
            if field != 1 or wire != _LEN:
                continue
            tag = None
            scalar = None
            for f, w, v in _fields(value):  # type: ignore[arg-type]
                if f == 1 and w == _LEN:
                    tag = bytes(v).decode("utf-8", "replace")  # type: ignore[arg-type]
                elif f == 2 and w == _FIXED32:
                    scalar = struct.unpack("<f", v)[0]  # type: ignore[arg-type]
                elif f == 8 and w == _LEN:
                    scalar = _tensor_scalar(v)  # type: ignore[arg-type]
            if tag is not None and scalar is not None:
                out.append(ScalarEvent(tag, step, float(scalar), wall_time))
    return out


# ---------------------------------------------------------------------------------------------
# Readers.


@dataclass(frozen=True)
class ScalarEvent:
    """One scalar summary value."""

    tag: str
    step: int
    value: float
    wall_time: float


_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")


class EventFileReader:
    """Reads scalar summaries from one event file, incrementally.

    Each :meth:`read_new` returns the scalars of the records appended since the previous call.
    A truncated last record (the file is still being written) or a CRC mismatch ends the read;
    the next call retries from the last good record. Missing or unreadable files read as empty.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.offset = 0  # byte offset just past the last good record
        self.records = 0  # good records read so far
        self.corrupt = False  # True while a CRC mismatch blocks further reading

    def read_new(self) -> list[ScalarEvent]:
        """Scalars of the complete, intact records appended since the last call."""
        out: list[ScalarEvent] = []
        try:
            with open_regular(self.path) as f:
                size = os.fstat(f.fileno()).st_size
                if size <= self.offset:
                    return out
                f.seek(self.offset)
                buf = f.read(size - self.offset)
        except OSError as exc:
            log.debug("cannot read %s: %s", self.path, exc)
            return out
        pos = 0
        end = len(buf)
        while pos + _HEADER.size <= end:
            length, length_crc = _HEADER.unpack_from(buf, pos)
            if masked_crc32c(buf[pos : pos + 8]) != length_crc:
                self._mismatch("length")
                break
            data_start = pos + _HEADER.size
            data_end = data_start + length
            if data_end + _CRC.size > end:
                break  # truncated: the writer has not finished this record
            data = buf[data_start:data_end]
            if masked_crc32c(data) != _CRC.unpack_from(buf, data_end)[0]:
                self._mismatch("data")
                break
            pos = data_end + _CRC.size
            self.records += 1
            self.corrupt = False
            try:
                out.extend(_decode_scalars(data))
            except (_DecodeError, struct.error, UnicodeDecodeError) as exc:
                log.debug("skipping undecodable record in %s: %s", self.path, exc)
        self.offset += pos
        return out

    def _mismatch(self, what: str) -> None:
        if not self.corrupt:
            log.debug("%s CRC mismatch in %s at byte %d", what, self.path, self.offset)
        self.corrupt = True


def is_event_file(name: str) -> bool:
    """Whether a file name looks like a TensorFlow event file."""
    return os.path.basename(name).startswith(EVENT_FILE_PREFIX)


class EventDirectoryScanner:
    """Follows every event file under ``root`` and collects the scalars tagged ``tag``.

    Subdirectories named ``tf_hptune`` are skipped. Event files that appear later are picked
    up by later calls. Values from evaluation directories (any directory below ``root`` whose
    name starts with one of ``eval_prefixes``) take precedence over the rest: Estimator's
    training summaries carry their own ``loss``, and the evaluation's value is the metric.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        tag: str,
        *,
        eval_prefixes: tuple[str, ...] = EVAL_DIR_PREFIXES,
    ) -> None:
        self.root = os.fspath(root)
        self.tag = tag
        self.eval_prefixes = tuple(eval_prefixes)
        self._readers: dict[str, EventFileReader] = {}
        # (step, value, wall_time, source_dir, is_eval, order) of every value seen so far.
        self._seen: list[tuple[int, float, float, str, bool, int]] = []
        self.other_tags: set[str] = set()  # the scalar tags seen besides ``tag`` (a few)

    def event_files(self) -> list[str]:
        """Paths of the event files under the root, sorted."""
        found = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIR_NAMES)
            found.extend(os.path.join(dirpath, f) for f in filenames if is_event_file(f))
        return sorted(found)

    def is_eval_dir(self, directory: str) -> bool:
        """Whether ``directory`` (below the root) holds evaluation summaries."""
        rel = os.path.relpath(directory, self.root)
        if rel in (".", ""):
            return False
        return any(
            part.startswith(self.eval_prefixes) for part in rel.split(os.sep) if part != ".."
        )

    def read_new(self) -> list[tuple[int, float, float, str]]:
        """New ``(step, value, wall_time, source_dir)`` of the tag since the last call."""
        new: list[tuple[int, float, float, str]] = []
        for path in self.event_files():
            reader = self._readers.get(path)
            if reader is None:
                reader = self._readers[path] = EventFileReader(path)
            try:
                events = reader.read_new()
            except Exception:  # noqa: BLE001 - a bad file must never stop the scan
                log.warning("skipping unreadable event file %s", path, exc_info=True)
                continue
            source = os.path.dirname(path)
            is_eval = self.is_eval_dir(source)
            for ev in events:
                if ev.tag != self.tag:
                    if len(self.other_tags) < MAX_OTHER_TAGS:
                        self.other_tags.add(ev.tag)
                    continue
                new.append((ev.step, ev.value, ev.wall_time, source))
                self._seen.append(
                    (ev.step, ev.value, ev.wall_time, source, is_eval, len(self._seen))
                )
        return new

    def measurements(self) -> list[tuple[int, float]]:
        """All ``(step, value)`` of the tag so far, one per step, in step order.

        Reads new data first. Only evaluation directories count when any of them has the tag.
        For a step written more than once the latest write (by wall time) wins.
        """
        self.read_new()
        use_eval = any(seen[4] for seen in self._seen)
        latest: dict[int, tuple[float, int, float]] = {}
        for step, value, wall_time, _source, is_eval, order in self._seen:
            if is_eval != use_eval:
                continue
            key = (wall_time, order, value)
            if step not in latest or key[:2] > latest[step][:2]:
                latest[step] = key
        return [(step, latest[step][2]) for step in sorted(latest)]

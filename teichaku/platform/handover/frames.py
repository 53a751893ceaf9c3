"""The archive body: a stream of frames, written and read in one pass (no temporary files).

A frame is one type byte, a big-endian u64 length and that many bytes:

* ``T`` a batch of rows of one table: ``{"table": name, "rows": [encoded rows]}``
* ``F`` an uploaded file's header: ``{"path": path under the center's upload folder, "size",
  "sha256"}``, followed by ``D`` frames holding exactly ``size`` bytes
* ``E`` the end (nothing may follow it)

Tables come in dependency order, so the importer can insert each batch as it arrives.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator

from .archive import ArchiveRefused
from .rows import canonical

ROWS, FILE, DATA, END = b"T", b"F", b"D", b"E"
BATCH_ROWS = 1000
BATCH_BYTES = 4 * 1024 * 1024
DATA_CHUNK = 1024 * 1024
MAX_FRAME = 256 * 1024 * 1024


def frame(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack(">Q", len(payload)) + payload


class RowBatcher:
    """Collects encoded rows of one table and emits them as ``T`` frames of bounded size."""

    def __init__(self, table: str, emit: Callable[[bytes], None]):
        self.table, self._emit = table, emit
        self._rows: list = []
        self._bytes = 0

    def add(self, encoded_row: dict) -> None:
        self._rows.append(encoded_row)
        self._bytes += len(canonical(encoded_row))
        if len(self._rows) >= BATCH_ROWS or self._bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._emit(frame(ROWS, canonical({"table": self.table, "rows": self._rows})))
            self._rows, self._bytes = [], 0


def file_frames(path: Path, relative: str, emit: Callable[[bytes], None]) -> dict:
    """Emit one file (header, then its bytes); returns its manifest entry."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(DATA_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    entry = {"path": relative, "size": size, "sha256": digest.hexdigest()}
    emit(frame(FILE, canonical(entry)))
    with open(path, "rb") as f:
        sent = 0
        while sent < size and (chunk := f.read(min(DATA_CHUNK, size - sent))):
            emit(frame(DATA, chunk))
            sent += len(chunk)
    if sent != size:
        raise OSError(f"file changed while it was archived: {relative}")
    return entry


def safe_relative_path(value) -> PurePosixPath:
    """A file path from an archive, refused unless it stays inside the center's folder: no
    absolute path, no ``..``, no hidden names, only plain characters."""
    if not isinstance(value, str) or not value or len(value) > 255:
        raise ArchiveRefused("アーカイブのファイル名が正しくありません。")
    path = PurePosixPath(value)
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    if path.is_absolute() or any(part in ("", ".", "..") or part.startswith(".") or set(part) - allowed
                                 for part in path.parts):
        raise ArchiveRefused("アーカイブのファイル名が正しくありません。")
    return path


@dataclass
class RowsFrame:
    table: str
    rows: list


@dataclass
class FileFrame:
    path: PurePosixPath
    size: int
    sha256: str
    chunks: Iterator[bytes]


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    parts, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise ArchiveRefused("アーカイブの本体が途中で切れています。")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _next(stream: BinaryIO) -> tuple[bytes, bytes]:
    head = _read_exact(stream, 9)
    kind, (length,) = head[:1], struct.unpack(">Q", head[1:])
    if kind not in (ROWS, FILE, DATA, END) or length > MAX_FRAME:
        raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")
    return kind, _read_exact(stream, length)


def _json(payload: bytes) -> dict:
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise ArchiveRefused("アーカイブの本体の構造が正しくありません。") from exc
    if not isinstance(value, dict):
        raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")
    return value


def read_frames(stream: BinaryIO) -> Iterator[RowsFrame | FileFrame]:
    """Yield row batches and files in order; a file's ``chunks`` must be consumed before the
    next frame is asked for."""
    while True:
        kind, payload = _next(stream)
        if kind == END:
            if stream.read(1):
                raise ArchiveRefused("アーカイブの本体の終わりの後にデータがあります。")
            return
        body = _json(payload)
        if kind == ROWS:
            if not isinstance(body.get("table"), str) or not isinstance(body.get("rows"), list):
                raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")
            yield RowsFrame(body["table"], body["rows"])
        elif kind == FILE:
            size = body.get("size")
            if not isinstance(size, int) or size < 0 or not isinstance(body.get("sha256"), str):
                raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")
            yield FileFrame(safe_relative_path(body.get("path")), size, body["sha256"], _data(stream, size))
        else:
            raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")


def _data(stream: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left:
        kind, payload = _next(stream)
        if kind != DATA or len(payload) > left:
            raise ArchiveRefused("アーカイブの本体の構造が正しくありません。")
        left -= len(payload)
        yield payload

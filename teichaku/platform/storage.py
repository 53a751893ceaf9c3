"""Document files on disk: ``<UPLOAD_ROOT>/<center_id>/<document_id>``, never the user's filename.

A platform service: the case documents (``tenants.records``), the transfer attachments, the
center handover and the retention erasure all keep their files here, so it sits below them all.

A file is first written under a temporary name beside its final place (hashing and counting the
bytes on the way, stopping at the size limit), its type is detected from its content (magic
bytes, never the extension), and only after the database row has been flushed is it renamed to
its final name.  The final path is remembered on the session: if the transaction rolls back (or
ends without a commit) the file is deleted, so no file is left without its row.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from .logs import get_logger
from .transaction import on_rollback

log = get_logger("teichaku.storage")

CHUNK = 64 * 1024

# Detected types: content type, label, the extensions a file of that type may carry.
TYPES = {
    "pdf": ("application/pdf", "PDF", (".pdf",)),
    "png": ("image/png", "PNG", (".png",)),
    "jpeg": ("image/jpeg", "JPEG", (".jpg", ".jpeg")),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word (DOCX)", (".docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel (XLSX)", (".xlsx",)),
    "text": ("text/plain; charset=utf-8", "テキスト", (".txt", ".csv", ".tsv", ".md")),
}
EXTENSION_TYPE = {ext: name for name, (_, _, exts) in TYPES.items() for ext in exts}
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"


class UploadRefused(Exception):
    """The file cannot be stored; ``message`` is Japanese and safe to show."""

    def __init__(self, message: str, *, too_large: bool = False):
        super().__init__(message)
        self.message = message
        self.too_large = too_large


@dataclass
class StagedFile:
    temp_path: Path
    size: int
    sha256: str
    type_name: str

    @property
    def content_type(self) -> str:
        return TYPES[self.type_name][0]


# --- paths -----------------------------------------------------------------------------------

def upload_root() -> Path:
    return Path(current_app.config["UPLOAD_ROOT"])


def center_dir(center_id: uuid.UUID) -> Path:
    return upload_root() / str(uuid.UUID(str(center_id)))


def document_path(center_id: uuid.UUID, document_id: uuid.UUID) -> Path:
    """The one place a document's bytes live (both parts are UUIDs: no user text in the path)."""
    return center_dir(center_id) / str(uuid.UUID(str(document_id)))


def max_bytes() -> int:
    return int(current_app.config.get("DOCUMENT_MAX_MB", 10)) * 1024 * 1024


# --- filenames -------------------------------------------------------------------------------

_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*\u200b-\u200f\u202a-\u202e\u2066-\u2069]')


def sanitize_filename(raw: str | None, type_name: str | None = None) -> str:
    """A filename fit to show and to offer on download: no directories, control or bidi
    characters, no leading dots, at most 150 characters; the detected type's extension is added
    when the name has none."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    stem, ext = os.path.splitext(name)
    if len(ext) > 10:
        stem, ext = name, ""
    stem = stem[: 150 - len(ext)] or "document"
    if not ext and type_name:
        ext = TYPES[type_name][2][0]
    return stem + ext.lower()


def extension_of(name: str | None) -> str:
    return os.path.splitext((name or "").strip())[1].lower()


# --- content detection -------------------------------------------------------------------------

def _zip_office_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("[Content_Types].xml")
            if info.file_size > 1024 * 1024:
                return None
            with archive.open(info) as member:
                types = member.read(1024 * 1024 + 1).decode("utf-8", "replace")
    except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError, EOFError):
        return None
    if DOCX_MAIN in types:
        return "docx"
    if XLSX_MAIN in types:
        return "xlsx"
    return None


def _is_text(path: Path) -> bool:
    decoder_input = path.read_bytes()
    if not decoder_input or b"\x00" in decoder_input:
        return False
    try:
        text = decoder_input.decode("utf-8")
    except UnicodeDecodeError:
        return False
    # Control characters other than tab, newline, carriage return and form feed: not plain text.
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def detect_type(path: Path) -> str | None:
    """The file's type from its bytes: pdf, png, jpeg, docx, xlsx, text, or None (refused)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"PK\x03\x04"):
        return _zip_office_type(path)
    if _is_text(path):
        return "text"
    return None


# --- writing ---------------------------------------------------------------------------------

def stage(center_id: uuid.UUID, document_id: uuid.UUID, stream, filename: str | None) -> StagedFile:
    """Write the upload under a temporary name, enforcing the size limit and checking the type
    against both the content and the name's extension.  Raises ``UploadRefused`` (the temporary
    file is then already gone)."""
    directory = center_dir(center_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = directory / f".{uuid.UUID(str(document_id))}.{uuid.uuid4().hex}.part"
    limit = max_bytes()
    digest, size = hashlib.sha256(), 0
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise UploadRefused(
                        f"ファイルが大きすぎます。{current_app.config.get('DOCUMENT_MAX_MB', 10)}MB 以下のファイルを選んでください。",
                        too_large=True)
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise UploadRefused("ファイルが空です。")
        type_name = detect_type(temp)
        if type_name is None:
            raise UploadRefused("この種類のファイルは登録できません。PDF・PNG・JPEG・Word（DOCX）・Excel（XLSX）・テキスト（UTF-8）のみ登録できます。")
        ext = extension_of(filename)
        if ext and EXTENSION_TYPE.get(ext) != type_name:
            claimed = TYPES[EXTENSION_TYPE[ext]][1] if ext in EXTENSION_TYPE else ext
            raise UploadRefused(f"ファイルの内容が拡張子と一致しません（拡張子は {claimed}、内容は {TYPES[type_name][1]}）。正しいファイルを選んでください。")
    except BaseException:
        discard(temp)
        raise
    return StagedFile(temp_path=temp, size=size, sha256=digest.hexdigest(), type_name=type_name)


def commit_staged(session: Session, staged: StagedFile, center_id: uuid.UUID, document_id: uuid.UUID) -> Path:
    """Move a staged file to its final name (after the row was flushed); a rollback of the
    transaction (or savepoint) that flushed the row deletes it."""
    final = document_path(center_id, document_id)
    os.replace(staged.temp_path, final)
    on_rollback(functools.partial(discard, final), session)
    return final


def discard(path: Path | str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:  # pragma: no cover - logged, never raised over the real error
        log.error("document_file_not_removed", exc_type=type(exc).__name__)


# --- reading ---------------------------------------------------------------------------------

def open_verified(center_id: uuid.UUID, document_id: uuid.UUID, size: int, sha256: str) -> bytes | None:
    """The file's bytes if they are still what was stored (size and hash); None otherwise."""
    path = document_path(center_id, document_id)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) != size or hashlib.sha256(data).hexdigest() != sha256:
        return None
    return data

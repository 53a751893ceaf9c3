"""Files attached to a transfer's thread (スレッドの添付ファイル): one copy per side.

Each center owns its copy of a message and so its copy of every file attached to it: the bytes
are written once per center with the case documents' storage (``platform.storage``:
``<UPLOAD_ROOT>/<center_id>/<id>``, the same size and type checks and filename sanitising as
``records.services.upload_document``), each copy with its own row in
``transfer_message_attachments``.  A center downloads only its own copies (another center's id
answers like a missing one).

Files are staged (written under temporary names and checked) before any row is written, so a
refused file leaves no message, no row and no file behind; a staged file becomes final only
after its row was flushed, and a rollback deletes it again (``storage.commit_staged``).
Nothing here commits; ``threads.post_message`` calls it inside the caller's transaction.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Sequence

from sqlalchemy import select
from werkzeug.exceptions import NotFound

from ...platform.errors import ValidationFailed
from ...platform.extensions import db
from ...platform.logs import get_logger
from ...platform.tenancy import get_owned
from ...platform import storage
from ...tenants.records.services import DocumentUnavailable
from .models import Transfer, TransferMessage, TransferMessageAttachment

MAX_FILES = 5  # per message; each file is limited like a case document (DOCUMENT_MAX_MB)
log = get_logger("teichaku.transfers.attachments")

Upload = tuple[BinaryIO, str | None]  # a file's stream and the name the user gave it


@dataclass
class StagedCopy:
    """One center's copy of one uploaded file, written under a temporary name."""

    center_id: uuid.UUID
    attachment_id: uuid.UUID
    pair_id: uuid.UUID
    filename: str
    staged: storage.StagedFile


def check_count(files: Sequence[Upload]) -> None:
    """At most ``MAX_FILES`` files per message (422 ``files`` otherwise)."""
    if len(files) > MAX_FILES:
        message = f"添付できるファイルは1回に{MAX_FILES}個までです。"
        raise ValidationFailed(message, fields={"files": [message]})


def stage_copies(files: Sequence[Upload], center_ids: Sequence[uuid.UUID]) -> list[StagedCopy]:
    """Write each file once for each center (the first center's copy is checked; the others are
    copied from it).  Raises ``ValidationFailed`` (422 ``files``) for a file refused by the size
    or type checks; then every file staged so far is already gone."""
    copies: list[StagedCopy] = []
    try:
        for stream, filename in files:
            _stage_one(stream, filename, center_ids, copies)
    except storage.UploadRefused as exc:
        discard(copies)
        raise ValidationFailed(exc.message, fields={"files": [exc.message]},
                               details={"too_large": True} if exc.too_large else None) from exc
    except BaseException:
        discard(copies)
        raise
    return copies


def _stage_one(stream: BinaryIO, filename: str | None, center_ids: Sequence[uuid.UUID],
               copies: list[StagedCopy]) -> None:
    """Stage one file for every center, appending each copy to ``copies`` as soon as it exists
    (so that the caller can discard it whatever fails next)."""
    pair_id, first = uuid.uuid4(), None
    for center_id in center_ids:
        attachment_id = uuid.uuid4()
        if first is None:
            staged = storage.stage(center_id, attachment_id, stream, filename)
        else:
            with open(first.staged.temp_path, "rb") as again:
                staged = storage.stage(center_id, attachment_id, again, filename)
        copy = StagedCopy(center_id=center_id, attachment_id=attachment_id, pair_id=pair_id,
                          filename=storage.sanitize_filename(filename, staged.type_name), staged=staged)
        copies.append(copy)
        first = first or copy


def discard(copies: Iterable[StagedCopy]) -> None:
    """Remove staged files that will not be kept."""
    for copy in copies:
        storage.discard(copy.staged.temp_path)


def store(copies: Sequence[StagedCopy], messages: dict[uuid.UUID, TransferMessage], uploader_id) -> list[TransferMessageAttachment]:
    """The rows of the staged copies, each beside its center's copy of the message, then the
    files under their final names (deleted again if the transaction rolls back).  Must run inside
    ``cross_tenant`` (the rows belong to two centers)."""
    rows = []
    try:
        for copy in copies:
            message = messages[copy.center_id]
            row = TransferMessageAttachment(
                id=copy.attachment_id, center_id=copy.center_id, transfer_id=message.transfer_id,
                message_id=message.id, pair_id=copy.pair_id, filename=copy.filename,
                content_type=copy.staged.content_type, size_bytes=copy.staged.size, sha256=copy.staged.sha256,
                uploaded_by_id=uploader_id)
            db.session.add(row)
            rows.append(row)
        db.session.flush()
    except BaseException:
        discard(copies)
        raise
    for copy in copies:
        storage.commit_staged(db.session(), copy.staged, copy.center_id, copy.attachment_id)
    return rows


def of_messages(message_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[TransferMessageAttachment]]:
    """The current center's attachments of these messages, by message id, in upload order."""
    ids = list(message_ids)
    out: dict[uuid.UUID, list[TransferMessageAttachment]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = db.session.scalars(select(TransferMessageAttachment).where(TransferMessageAttachment.message_id.in_(ids))
                              .order_by(TransferMessageAttachment.created_at, TransferMessageAttachment.filename))
    for row in rows:
        out[row.message_id].append(row)
    return out


def view(row: TransferMessageAttachment) -> dict:
    """An attachment as the API lists it under its message."""
    return {"id": row.id, "filename": row.filename, "size": row.size_bytes, "content_type": row.content_type}


def load(transfer: Transfer, attachment_id) -> TransferMessageAttachment:
    """The current center's own copy of a file of this transfer's thread; 404 for another
    center's copy, another transfer's file or a missing one."""
    row = get_owned(TransferMessageAttachment, attachment_id)
    if row is None or row.transfer_id != transfer.id:
        raise NotFound()
    return row


def read_bytes(row: TransferMessageAttachment) -> bytes:
    """The copy's bytes, checked against the stored size and hash (``DocumentUnavailable``: the
    file is missing or altered on disk, a fault of the server)."""
    data = storage.open_verified(row.center_id, row.id, row.size_bytes, row.sha256)
    if data is None:
        log.error("transfer_attachment_missing_or_altered", attachment_id=str(row.id))
        raise DocumentUnavailable("ファイルを読み出せませんでした。センターの管理者に連絡してください。")
    return data

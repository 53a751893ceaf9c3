"""A transfer's thread: messages and files between the two centers, and the sending center's
shared updates after acceptance.

Each side keeps its own copy of every message (``TransferMessage``, joined by ``pair_id``) and of
every file (``attachments``).  The thread is closed while the request awaits the head's approval
and once it ended without the receiving center taking the person on (``check_thread_open``);
files sent are a provision of the person's data, recorded in the author center.  A shared update
is also a progress note in the receiving center's case, written by that center's own records
service run as that center (``sides.as_center``) and audited in its chain.  Nothing here commits.

Raises ``ValidationFailed`` (422), ``InvalidState`` (409) and ``werkzeug.exceptions.NotFound``.
"""
from __future__ import annotations

import uuid
from typing import Sequence

from sqlalchemy import select

from ...platform.audit.services import record as audit
from ...platform.errors import InvalidState, ValidationFailed
from ...platform.extensions import db
from ...platform.i18n import jst_date, today_jst
from ...platform.models import utcnow
from ...platform.pagination import keyset_page
from ...platform.tenancy import cross_tenant
from ...tenants.records import services as records
from ...tenants.records.models import CaseRecord
from ..notifications.services import emit
from . import attachments as thread_files
from . import lifecycle as lc
from .groups import current_receiving, lock_group, sending_row
from .models import ProvisionRecord, Transfer, TransferMessage, TransferMessageAttachment
from .sides import (actor_id, as_center, audit_provision, audit_row, case_in_its_center, center_of, open_chain,
                    own_case, own_center, own_person_id, record_provision)


def _actor_name(actor) -> str:
    """How a message's author is shown to both centers: the display name, never the e-mail."""
    name = (getattr(actor, "display_name", "") or "").strip()
    return name[:100] if name else "職員"


# --- sending ------------------------------------------------------------------------------------------

def check_thread_open(row: Transfer, *, with_files: bool = False) -> None:
    """Refuse (``InvalidState``, 409) a message or file on a thread that is closed: the request
    awaits the head's approval (the other center has nothing yet), or it ended without the
    receiving center taking the person on (``lifecycle.NOT_TAKEN_ON_STATUSES``: that center's
    copy of the identity is erased, so nothing more about the person may reach it).  Files also
    need a case of the sender's own (``files_allowed``)."""
    reason = lc.thread_closed_reason(row.status)
    if reason is not None:
        raise InvalidState(reason, details={"status": row.status})
    if with_files and not files_allowed(row):
        raise InvalidState(lc.FILES_NEED_OWN_CASE, details={"status": row.status, "side": row.side})


def files_allowed(row: Transfer) -> bool:
    """Whether this side may attach files: a file sent is a provision recorded with the sender's
    own case and person, which a receiving center has only once it accepted."""
    return row.case_id is not None


def post_message(row: Transfer, body: str, actor, files: Sequence[thread_files.Upload] = ()) -> TransferMessage:
    """A message to the other center, with files attached if any (``files``: streams and the
    names given); each side keeps its own copy of the message and of every file.

    The thread must be open on both sides (``check_thread_open``), checked again with both rows
    locked, so a message racing a decline or a withdrawal either lands before it or is refused.
    Files sent are a provision of the person's data: one provision record per message in the
    author center (``_record_attachment_provision``).  A file refused by the size or type checks
    is a 422 (``files``) and nothing is written: no message, no row, no file on disk."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("メッセージを入力してください。", fields={"body": ["必須項目です。"]})
    files = list(files or ())
    thread_files.check_count(files)
    check_thread_open(row, with_files=bool(files))
    with cross_tenant("transfers.message"):
        lock_group(row.group_id)  # both sides locked and re-read (``row`` too: populate_existing)
        other = _thread_counterpart(row)
        check_thread_open(row, with_files=bool(files))
        check_thread_open(other)
        staged = thread_files.stage_copies(files, (row.center_id, other.center_id))
        try:
            copies = _write_message(row, other, body, actor)
        except BaseException:
            thread_files.discard(staged)
            raise
        stored = thread_files.store(staged, copies, actor_id(actor))
        emit("transfer_message", to_center_id=other.center_id, transfer_id=other.public_id)
    audit_row("transfer.message", row, details={"length": len(body), "attachments": len(files)})
    _audit_uploads(row, stored)
    if stored:
        _record_attachment_provision(row, other.center_id, [a for a in stored if a.center_id == row.center_id], actor)
    return copies[row.center_id]


def _record_attachment_provision(row: Transfer, recipient_center_id, own_copies: list[TransferMessageAttachment],
                                 actor) -> ProvisionRecord:
    """第三者提供記録 of the files of one message sent to the other center (APPI), like the
    request's own provision (``workflow.request_transfer``): what (each file), to whom, when, on which basis (the
    person's consent recorded with the request), in the author center with its own case."""
    case = own_case(row)
    basis = "consent_reassigned" if row.side == "sending" and row.reassign_count else "consent"
    items = [{"kind": "attachment", "label": f"{lc.ATTACHMENT_ITEM_LABEL}: {a.filename}"} for a in own_copies]
    provision = record_provision(row, case, recipient_center_id, items, basis, actor)
    audit_provision(row, provision, attachment_ids=[str(a.id) for a in own_copies])
    return provision


def _thread_counterpart(row: Transfer) -> Transfer:
    """The other side's current row, which gets the other copy of a message (inside ``cross_tenant``)."""
    other = current_receiving(row.group_id) if row.side == "sending" else sending_row(row.group_id)
    if other is None:
        raise InvalidState("相手のセンターがまだ決まっていません。")
    return other


def _write_message(row: Transfer, other: Transfer, body: str, actor, *, kind: str = "message") -> dict:
    """One copy of a message on each side (joined by ``pair_id``), by center id; flushed."""
    pair_id, now, copies = uuid.uuid4(), utcnow(), {}
    for target in (row, other):
        message = TransferMessage(center_id=target.center_id, transfer_id=target.id, group_id=row.group_id,
                                  pair_id=pair_id, author_center_id=row.center_id, author_id=actor_id(actor),
                                  author_name=_actor_name(actor), body=body, kind=kind, created_at=now)
        db.session.add(message)
        copies[target.center_id] = message
    db.session.flush()
    return copies


def _audit_uploads(row: Transfer, stored: list[TransferMessageAttachment]) -> None:
    """One ``transfer.attachment_upload`` entry per file, in the author's chain, naming both copies."""
    own = [a for a in stored if a.center_id == row.center_id]
    if not own:
        return
    person_id = own_person_id(row)
    other_copy = {a.pair_id: a.id for a in stored if a.center_id != row.center_id}
    for attachment in own:
        audit("transfer.attachment_upload", object_type="transfer_message_attachment", object_id=attachment.id,
              person_id=person_id,
              details={"transfer_id": str(row.id), "message_id": str(attachment.message_id),
                       "filename": attachment.filename, "size_bytes": attachment.size_bytes,
                       "sha256": attachment.sha256, "counterpart_copy_id": str(other_copy.get(attachment.pair_id))})


# --- the sending center's shared updates --------------------------------------------------------------

def share_update(row: Transfer, body: str, actor) -> TransferMessage:
    """After acceptance, an update the sending center shares: written on both sides of the thread
    (``kind = 'shared_update'``), copied as a progress note into the receiving center's case
    (noted with where it came from), and the receiving center is notified.

    The note is written by the receiving center's own records service, run as that center
    (``as_center``): its audit chain gets the ``record.create`` entry with its case's person,
    like any change to its person's record."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed("共有する内容を入力してください。", fields={"body": ["必須項目です。"]})
    if row.side != "sending":
        raise InvalidState("共有する更新は依頼したセンターが送るものです。", details={"side": row.side})
    if row.status != "accepted":
        raise InvalidState("受入れが決まった依頼にだけ、更新を共有できます。", details={"status": row.status})
    from_center = own_center()
    with cross_tenant("transfers.share_update"):
        open_chain(row.counterpart_center_id, "transfers.share_update")
        sending, receiving = lock_group(row.group_id)
        if sending.id != row.id or sending.status != "accepted" or receiving is None \
                or receiving.status != "accepted" or receiving.case_id is None:
            raise InvalidState("受入れが決まった依頼にだけ、更新を共有できます。", details={"status": sending.status})
        copies = _write_message(sending, receiving, body, actor, kind="shared_update")
        mine = copies[sending.center_id]
        with as_center(receiving.center_id, "transfers.share_update"):
            _note_in_receiving_case(receiving, f"広域調整により{from_center.name}から共有された更新"
                                               f"（{jst_date(mine.created_at).isoformat()}）:\n{body}")
        emit("transfer_update_shared", to_center_id=receiving.center_id, transfer_id=receiving.public_id)
    audit_row("transfer.share_update", row, person_id=own_person_id(row),
              details={"length": len(body), "pair_id": str(mine.pair_id)})
    return mine


def _note_in_receiving_case(receiving: Transfer, content: str) -> CaseRecord:
    """A progress note in the receiving center's case, through its records service (run as the
    receiving center: the case is loaded by that center and id, the note audited in its chain)."""
    return records.create_record(case_in_its_center(receiving), {"kind": "progress", "recorded_on": today_jst(), "content": content})


# --- reading ------------------------------------------------------------------------------------------

def list_messages(row: Transfer, *, limit: int = 50, cursor: str | None = None, oldest_first: bool = False):
    """The current center's copy of the thread (newest first for the API, oldest first for pages)."""
    stmt = select(TransferMessage).where(TransferMessage.transfer_id == row.id)
    if oldest_first:
        rows = list(db.session.scalars(stmt.order_by(TransferMessage.created_at, TransferMessage.id).limit(500)))
        audit_row("transfer.messages_read", row)
        return rows, None
    rows, next_cursor = keyset_page(stmt, (TransferMessage.created_at, TransferMessage.id), limit, cursor)
    audit_row("transfer.messages_read", row)
    return rows, next_cursor


def message_attachments(messages: Sequence[TransferMessage]) -> dict:
    """The current center's copies of the files attached to these messages, by message id."""
    return thread_files.of_messages(m.id for m in messages)


def message_view(message: TransferMessage, attachments: list[TransferMessageAttachment] | None = None) -> dict:
    """A message as both centers see it: which center wrote it and who (display name only), and
    the files attached (this center's copies; looked up when not given)."""
    author = center_of(message.author_center_id)
    if attachments is None:
        attachments = message_attachments([message])[message.id]
    return {"id": message.id, "author_center": author.code, "author_center_name": author.name,
            "author_name": message.author_name, "mine": message.author_center_id == message.center_id,
            "body": message.body, "kind": message.kind, "created_at": message.created_at,
            "attachments": [thread_files.view(a) for a in attachments]}


def download_attachment(row: Transfer, attachment_id: uuid.UUID | str) -> tuple[TransferMessageAttachment, bytes]:
    """The current center's own copy of a file of the thread, and its bytes; the download is
    audited.  Another center's copy answers 404 like a missing one."""
    attachment = thread_files.load(row, attachment_id)
    data = thread_files.read_bytes(attachment)
    audit("transfer.attachment_download", object_type="transfer_message_attachment", object_id=attachment.id,
          person_id=own_person_id(row),
          details={"transfer_id": str(row.id), "filename": attachment.filename, "sha256": attachment.sha256})
    return attachment, data

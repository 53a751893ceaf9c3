"""``centers export``: everything a center owns, as one encrypted, signed archive.

Read in one snapshot (``REPEATABLE READ`` on PostgreSQL), as the application role inside the
center's tenant scope (see ``store``), so the archive is a consistent picture of the center and
cannot hold another center's row.  Deactivate the center first (platform admin page): what its
staff write after the snapshot is not in the archive.
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ..audit.services import record
from ..centers import Center, center_by_code
from ..extensions import db
from ..models import utcnow
from ..tenancy import set_tenant
from ..storage import center_dir
from . import store
from .archive import FORMAT, FORMAT_VERSION, ArchiveWriter
from .frames import END, RowBatcher, file_frames, frame
from .rows import RowCodec, TableDigest
from .tables import EXCLUDED, NOT_EXPORTED, exported_tables


@dataclass
class ExportSummary:
    center_code: str
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    sha512: str = ""


def export_center(code: str, out: BinaryIO, *, passphrase: str, signing_key: Ed25519PrivateKey) -> ExportSummary:
    """Write center ``code``'s archive to ``out``; records ``center.export`` in its audit chain.

    Runs in an app context of the application role; commits its own transactions (the snapshot,
    then the audit entry)."""
    store.require_application_role()
    center = center_by_code(code)
    if center is None:
        raise store.HandoverRefused("指定されたセンターが見つかりません。")
    revisions = store.schema_revisions()
    center_id, summary = center.id, ExportSummary(center_code=code)
    db.session.close()
    set_tenant(center_id)
    try:
        _begin_snapshot()
        codes = store.center_codes()
        created_at = utcnow().isoformat()
        writer = ArchiveWriter(out, center_code=code, created_at=created_at, passphrase=passphrase,
                               signing_key=signing_key)
        tables = {t.name: _write_table(t, center_id, store.codec(t, codes), writer.write) for t in exported_tables(db.metadata)}
        files = _write_files(center_id, writer.write)
        writer.write(frame(END, b"{}"))
        center_row = _center_row(center_id, codes)
        db.session.commit()  # the snapshot ends here; nothing was written in it
        manifest = _manifest(center_row, code, center_id, created_at, revisions, tables, files)
        summary.sha512 = writer.close(manifest)
        summary.rows = {name: entry["rows"] for name, entry in tables.items()}
        summary.files = len(files)
        record("center.export", object_type="center", object_id=center_id,
               details={"sha512": summary.sha512, "rows": sum(summary.rows.values()), "files": summary.files})
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        set_tenant(None)
    return summary


def _begin_snapshot() -> None:
    """Every table is read from one snapshot, so rows written meanwhile cannot half-appear."""
    if store.on_postgres():
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _write_table(table, center_id: uuid.UUID, row_codec: RowCodec, emit: Callable[[bytes], None]) -> dict:
    batcher, digest = RowBatcher(table.name, emit), TableDigest()
    for encoded in store.encoded_rows(table, center_id, row_codec):
        batcher.add(encoded)
        digest.add(encoded)
    batcher.flush()
    return digest.as_manifest()


def _write_files(center_id: uuid.UUID, emit: Callable[[bytes], None]) -> list[dict]:
    """Every finished file of the center's upload folder (documents, thread attachments, and
    whatever else a module stores there); names starting with a dot are uploads in progress."""
    root = center_dir(center_id)
    if not root.is_dir():
        return []
    entries = []
    for path in sorted(_finished_files(root)):
        entries.append(file_frames(path, path.relative_to(root).as_posix(), emit))
    return entries


def _finished_files(root: Path) -> list[Path]:
    found = []
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
        found.extend(Path(directory) / n for n in names if not n.startswith("."))
    return found


def _center_row(center_id: uuid.UUID, codes: dict) -> dict:
    """The center's own row (its name and settings such as the transfer approval rule)."""
    table = Center.__table__
    row = db.session.execute(table.select().where(table.c.id == center_id)).one()._mapping
    return RowCodec(table.c, db.session.get_bind().dialect.name, center_codes=codes).encode_row(dict(row))


def _manifest(center_row: dict, code: str, center_id: uuid.UUID, created_at: str, revisions: list[str],
              tables: dict, files: list[dict]) -> dict:
    return {
        "format": FORMAT, "version": FORMAT_VERSION, "created_at": created_at,
        "center": {"code": code, "id": str(center_id), "row": center_row},
        "schema": {"revisions": revisions},
        "tables": tables,
        "files": files,
        "excluded": EXCLUDED,
        "not_exported": {name: sorted(columns) for name, columns in NOT_EXPORTED.items()},
    }

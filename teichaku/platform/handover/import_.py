"""``centers import``: load a center's archive into this installation, or refuse it whole.

In order, and nothing is committed before every check has passed:

1. the signature, with the exporter's public key (a changed byte or another signer: refused);
2. the passphrase (the manifest must decrypt);
3. the schema: the archive's Alembic revision must be this database's (a newer one is refused,
   and so is an older one: rows of an older schema would skip the data migrations since);
4. the target: the center of the archive's code exists here and holds nothing (no row in any
   table the archive writes, no uploaded file);
5. the center's own row, as the schema owner in a transaction of its own: ids are the
   archive's (the audit chain hashes them), so an empty center whose id differs takes the
   archive's id (only when nothing references it), and the settings the center owns
   (``centers.CENTER_SETTINGS``: the transfer-approval rule); its code, name, prefecture and
   region stay this installation's (``centers.REFERENCE_COLUMNS``).  An import refused after
   this step leaves the center as empty as it was, with those settings;
6. the rows, as the application role inside the center's tenant scope: each must belong to the
   archive's center (refused otherwise; row-level security would refuse it too), then the
   files into a staging folder, then the body's authentication tag;
7. row counts and digests of every table, and every file, against the manifest; the center's
   audit chain (``audit verify``); then one ``center.import`` entry, the commit, and the files
   moved into place.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table, delete, select, update

from ..audit.services import record, verify
from ..auth.models import User
from ..centers import CENTER_SETTINGS, Center, center_by_code
from ..extensions import db
from ..tenancy import account_lookup, set_tenant
from ..storage import center_dir, upload_root
from . import store
from .archive import ArchiveReader, ArchiveRefused, verify_signature
from .frames import FileFrame, RowsFrame, read_frames
from .rows import ArchiveDataError, RowCodec, references_center
from .store import HandoverRefused
from .tables import IMPORT_FILL, REPLACED_ON_IMPORT, exported_tables, self_references, tenant_tables

INSERT_BATCH = 500


@dataclass
class ImportSummary:
    center_code: str
    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    rekeyed: bool = False


def import_center(f: BinaryIO, *, public_key: Ed25519PublicKey, passphrase: str) -> ImportSummary:
    """Load the archive in ``f``; raises ``ArchiveRefused`` or ``HandoverRefused`` (nothing
    loaded) with the reason.  Runs in an app context of the application role."""
    store.require_application_role()
    reader = ArchiveReader(f, verify_signature(f, public_key), passphrase)
    manifest = reader.manifest()
    code, center_id = _archive_center(manifest, reader.header)
    _check_schema(manifest)
    _check_tables(manifest)
    db.session.close()
    target = center_by_code(code)
    if target is None:
        raise HandoverRefused(f"センター「{code}」がこのインストールにありません（centers seed を先に実行してください）。")
    target_id = target.id
    db.session.close()
    _check_empty(target_id)
    rekeyed = _adopt_center(target_id, center_id, manifest["center"]["row"])
    summary = ImportSummary(center_code=code, rekeyed=rekeyed)
    _load(reader, manifest, center_id, summary)
    return summary


# --- checks before anything is written ----------------------------------------------------------

def _archive_center(manifest: dict, header: dict) -> tuple[str, uuid.UUID]:
    try:
        code, center_id = manifest["center"]["code"], uuid.UUID(manifest["center"]["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveRefused("アーカイブの目録が正しくありません。") from exc
    if code != header.get("center_code"):
        raise ArchiveRefused("アーカイブのヘッダーと目録のセンターが一致しません。")
    return code, center_id


def _check_schema(manifest: dict) -> None:
    theirs = sorted((manifest.get("schema") or {}).get("revisions") or [])
    ours = store.schema_revisions()
    if theirs == ours:
        return
    if set(theirs) - store.known_revisions():
        raise HandoverRefused(
            f"アーカイブはこのインストールより新しいスキーマ（{', '.join(theirs)}）で作成されています。"
            "このインストールを更新（flask db upgrade）してから取り込んでください。")
    raise HandoverRefused(
        f"アーカイブは古いスキーマ（{', '.join(theirs)}）で作成されています（こちらは {', '.join(ours)}）。"
        "アーカイブと同じ版のインストールに取り込んでから、そのインストールを更新してください。")


def _check_tables(manifest: dict) -> None:
    ours = {t.name for t in exported_tables(db.metadata)}
    theirs = set((manifest.get("tables") or {}).keys())
    if ours != theirs:
        raise HandoverRefused("アーカイブのテーブル構成がこのインストールと一致しません: "
                              + ", ".join(sorted(ours ^ theirs)))


def holdings(center_id: uuid.UUID) -> list[str]:
    """Tables the archive writes that already hold rows of the center (as the application role
    in the center's scope), plus ``files`` when its upload folder has any."""
    found = []
    set_tenant(center_id)
    try:
        for table in exported_tables(db.metadata):
            if table.name in REPLACED_ON_IMPORT:
                continue
            if db.session.execute(select(table.c.center_id).where(table.c.center_id == center_id).limit(1)).first():
                found.append(table.name)
    finally:
        db.session.rollback()
        set_tenant(None)
    folder = center_dir(center_id)
    if folder.is_dir() and any(folder.iterdir()):
        found.append("files")
    return found


def _check_empty(target_id: uuid.UUID) -> None:
    held = holdings(target_id)
    if held:
        raise HandoverRefused("取り込み先のセンターには既にデータがあります（" + ", ".join(held) + "）。"
                              "空のセンターにだけ取り込めます。")


# --- the center's own row (schema owner) --------------------------------------------------------

def _adopt_center(target_id: uuid.UUID, archive_id: uuid.UUID, center_row: dict) -> bool:
    """Give the (empty) target center the archive's id if it differs, and the settings the center
    owns (``CENTER_SETTINGS``) from the archive; everything else of the row (code, name,
    prefecture, region, active) stays this installation's.  Returns whether the id changed."""
    table = Center.__table__
    with store.owner_engine() as engine, engine.begin() as conn:
        row_codec = RowCodec(table.c, conn.dialect.name)
        try:
            values = row_codec.decode_row(center_row)
        except ArchiveDataError as exc:
            raise ArchiveRefused("アーカイブの目録（センター）が正しくありません。") from exc
        rekey = target_id != archive_id
        if rekey:
            _free_center_id(conn, target_id, archive_id)
            conn.execute(update(table).where(table.c.id == target_id).values(id=archive_id))
        settings = {k: values[k] for k in CENTER_SETTINGS if k in values}
        if settings:
            conn.execute(update(table).where(table.c.id == archive_id).values(**settings))
    return rekey


def _free_center_id(conn, target_id: uuid.UUID, archive_id: uuid.UUID) -> None:
    """The target's id may change only if no row anywhere points at it (its own derived counts,
    replaced anyway, are deleted first) and the archive's id is not another center's."""
    centers = Center.__table__
    if conn.execute(select(centers.c.code).where(centers.c.id == archive_id)).first():
        raise HandoverRefused("アーカイブのセンターIDが、このインストールの別のセンターで使われています。")
    for table in tenant_tables(db.metadata):
        if table.name in REPLACED_ON_IMPORT:
            conn.execute(delete(table).where(table.c.center_id == target_id))
    users = [f"{t.name}.{c.name}" for t in db.metadata.sorted_tables for c in t.c
             if (references_center(c) or c.name == "center_id") and t.name != "centers"
             and conn.execute(select(c).where(c == target_id).limit(1)).first()]
    if users:
        raise HandoverRefused("取り込み先のセンターを参照しているデータがあります（" + ", ".join(users) + "）。"
                              "空のセンターにだけ取り込めます。")


# --- loading (application role, the center's scope) --------------------------------------------

def _load(reader: ArchiveReader, manifest: dict, center_id: uuid.UUID, summary: ImportSummary) -> None:
    staging = upload_root() / f".handover-{uuid.uuid4().hex}"
    final = center_dir(center_id)
    moved = False
    set_tenant(center_id)
    try:
        _clear_replaced(center_id)
        body = reader.body()
        loader = _RowLoader(center_id)
        files = []
        for item in read_frames(body):
            if isinstance(item, RowsFrame):
                loader.add(item)
            else:
                files.append(_stage_file(item, staging))
        loader.finish()
        reader.finish(body)
        _check_against_manifest(manifest, center_id, files, summary)
        _check_audit_chain(center_id)
        _record_import(manifest, center_id, summary)
        if files:
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                final.rmdir()  # empty (checked): the staged folder takes its place
            os.replace(staging, final)
            moved = True
        db.session.commit()
    except BaseException:
        db.session.rollback()
        if moved:
            shutil.rmtree(final, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        set_tenant(None)


def _clear_replaced(center_id: uuid.UUID) -> None:
    """The center's derived counts (an empty center's zero slices) give way to the archive's."""
    for table in exported_tables(db.metadata):
        if table.name in REPLACED_ON_IMPORT:
            db.session.execute(delete(table).where(table.c.center_id == center_id))


class _RowLoader:
    """Inserts row batches table by table, in the archive's (dependency) order."""

    def __init__(self, center_id: uuid.UUID):
        self.center_id = center_id
        self.tables = {t.name: t for t in exported_tables(db.metadata)}
        self.order = list(self.tables)
        self.codes = store.center_codes()
        self.current: Table | None = None
        self.codec: RowCodec | None = None
        self.held: list[dict] = []  # rows of a self-referencing table, inserted at its end
        self.done: set[str] = set()

    def add(self, item: RowsFrame) -> None:
        table = self.tables.get(item.table)
        if table is None:
            raise ArchiveRefused(f"アーカイブに、このインストールにないテーブル {item.table} があります。")
        if table is not self.current:
            self._switch(table)
        rows = [self._decode(r) for r in item.rows]
        if table.name == "users":
            _check_emails_free([r["email"] for r in rows])
        if self_references(table):
            self.held.extend(rows)
        else:
            _insert(table, rows)

    def _switch(self, table: Table) -> None:
        self.finish()
        if table.name in self.done or any(self.order.index(d) > self.order.index(table.name) for d in self.done):
            raise ArchiveRefused("アーカイブのテーブルの順序が正しくありません。")
        self.current, self.codec = table, store.codec(table, self.codes)

    def _decode(self, encoded) -> dict:
        try:
            row = self.codec.decode_row(encoded)
        except ArchiveDataError as exc:
            raise ArchiveRefused(f"{self.current.name}: {exc}") from exc
        if row.get("center_id") != self.center_id:
            raise ArchiveRefused(f"{self.current.name} に、アーカイブのセンター以外の行があります。取り込みを中止しました。")
        fill = IMPORT_FILL.get(self.current.name)
        if fill is not None:
            row.update(fill())
        return row

    def finish(self) -> None:
        if self.current is None:
            return
        if self.held:
            _insert(self.current, _parents_first(self.current, self.held))
            self.held = []
        self.done.add(self.current.name)
        self.current = None


def _insert(table: Table, rows: list[dict]) -> None:
    for start in range(0, len(rows), INSERT_BATCH):
        db.session.execute(table.insert(), rows[start:start + INSERT_BATCH])


def _parents_first(table: Table, rows: list[dict]) -> list[dict]:
    """Order the rows of a table that references itself (a follow-up case pointing at its
    coordination case) so that every referenced row is inserted before the rows pointing at it."""
    refs = self_references(table)
    index = [{tuple(row[c] for c in remote): i for i, row in enumerate(rows)} for _local, remote in refs]
    placed: set[int] = set()
    out: list[dict] = []

    def parents(i: int) -> list[int]:
        found = []
        for (local, _remote), keys in zip(refs, index):
            key = tuple(rows[i][c] for c in local)
            if None not in key and keys.get(key, i) != i:
                found.append(keys[key])
        return found

    def place(i: int, visiting: frozenset) -> None:
        if i in placed:
            return
        if i in visiting:
            raise ArchiveRefused(f"{table.name}: 行の参照が循環しています。")
        for parent in parents(i):
            place(parent, visiting | {i})
        placed.add(i)
        out.append(rows[i])

    for i in range(len(rows)):
        place(i, frozenset())
    return out


def _check_emails_free(emails: list[str]) -> None:
    """E-mail addresses are unique across the platform: name the imported accounts whose
    address is taken here (the insert would fail anyway, with a less helpful message)."""
    with account_lookup():
        taken = db.session.scalars(select(User.email).where(User.email.in_(emails))).all()
    if taken:
        raise HandoverRefused("取り込むアカウントのメールアドレスが、このインストールで既に使われています: "
                              + ", ".join(sorted(taken)))


def _stage_file(item: FileFrame, staging: Path) -> dict:
    """Write one file under the staging folder, checking its size and hash as it comes."""
    path = staging / Path(*item.path.parts)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, size = hashlib.sha256(), 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for chunk in item.chunks:
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if size != item.size or digest.hexdigest() != item.sha256:
        raise ArchiveRefused(f"ファイル {item.path} の内容が目録と一致しません。")
    return {"path": item.path.as_posix(), "size": size, "sha256": item.sha256}


# --- checks after loading, before the commit ----------------------------------------------------

def _check_against_manifest(manifest: dict, center_id: uuid.UUID, files: list[dict], summary: ImportSummary) -> None:
    """Every table, read back from this database, has the manifest's row count and digest; the
    files are exactly the manifest's."""
    codes = store.center_codes()
    wrong = []
    for table in exported_tables(db.metadata):
        expected = manifest["tables"][table.name]
        got = store.table_digest(table, center_id, store.codec(table, codes))
        if (got.count, got.hexdigest()) != (expected.get("rows"), expected.get("sha256")):
            wrong.append(f"{table.name}（{got.count}/{expected.get('rows')} 行）")
        summary.rows[table.name] = got.count
    if wrong:
        raise ArchiveRefused("取り込んだ行が目録と一致しません: " + ", ".join(wrong))
    key = lambda e: e["path"]  # noqa: E731
    if sorted(files, key=key) != sorted(manifest.get("files") or [], key=key):
        raise ArchiveRefused("取り込んだファイルが目録と一致しません。")
    summary.files = len(files)


def _check_audit_chain(center_id: uuid.UUID) -> None:
    result = verify(center_id)
    if not result.ok:
        raise ArchiveRefused("取り込んだ監査ログのハッシュチェーンが検証できません: " + "; ".join(result.problems[:5]))


def _record_import(manifest: dict, center_id: uuid.UUID, summary: ImportSummary) -> None:
    """One entry continuing the center's own chain, and one on the platform chain."""
    details = {"exported_at": manifest.get("created_at"), "schema": manifest["schema"]["revisions"],
               "rows": sum(summary.rows.values()), "files": summary.files, "rekeyed": summary.rekeyed}
    record("center.import", object_type="center", object_id=center_id, details=details)
    set_tenant(None)
    record("center.import", object_type="center", object_id=center_id, details=details)
    set_tenant(center_id)


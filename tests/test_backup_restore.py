"""Backup and restore (infra/scripts/backup.sh and restore.sh) on data made by the app's own
services: the test world (every module's objects, documents included) plus a document of
center A.  The restore goes into a new database and a new upload directory; every table must
come back with the same rows, the policies and grants of row-level security with it, every file
with its bytes, and `flask --app wsgi audit verify` must pass.  A damaged backup is refused
before anything is written."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import factories
from tests.conftest import BACKEND, OWNER_ROLE, PG_ADMIN_URL, _drop_database
from tests.world_records import B_PDF

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BACKEND != "postgres", reason="backs up the PostgreSQL test database"),
]

REPO = Path(__file__).resolve().parents[1]
BACKUP = REPO / "infra" / "scripts" / "backup.sh"
RESTORE = REPO / "infra" / "scripts" / "restore.sh"
FLASK = REPO / ".venv" / "bin" / "flask"
A_PNG = b"\x89PNG\r\n\x1a\n" + b"tokyo photo bytes " * 64


def _owner_url(dbname: str) -> str:
    return f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5432/{dbname}"


def _run(command: list, env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=timeout)


def _database_snapshot(url: str) -> dict:
    """Per table: row count and a digest of every row (as the owner, who bypasses RLS), plus
    the row-level security flags, the policies and the application role's grants."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = 'public' and c.relkind in ('r', 'p') order by 1")).scalars().all()
            rows = {t: tuple(conn.execute(text(
                f'select count(*), md5(coalesce(string_agg(x::text, E\'\\n\' order by x::text), \'\')) from "{t}" x'
            )).one()) for t in tables}
            rls = conn.execute(text(
                "select c.relname, c.relrowsecurity, c.relforcerowsecurity from pg_class c"
                " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind = 'r' order by 1")).all()
            policies = conn.execute(text(
                "select tablename, policyname, qual, with_check from pg_policies where schemaname = 'public' order by 1, 2")).all()
            grants = conn.execute(text(
                "select table_name, privilege_type from information_schema.role_table_grants"
                " where grantee = 'teichaku_app' order by 1, 2")).all()
    finally:
        engine.dispose()
    return {"rows": rows, "rls": rls, "policies": policies, "grants": grants}


def _file_sums(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _database_exists(name: str) -> bool:
    engine = create_engine(PG_ADMIN_URL)
    try:
        with engine.connect() as conn:
            return conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).scalar() == 1
    finally:
        engine.dispose()


@pytest.fixture()
def backup(app, database, tmp_path):
    """The test world plus a document of A, backed up by backup.sh; yields the backup directory."""
    world = factories.build_world(app)
    from teichaku.platform.centers import center_by_code
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import set_tenant
    from teichaku.tenants.records import services

    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        case = services.load_case(world.cases["a"]["id"])
        services.upload_document(case, stream=io.BytesIO(A_PNG), filename="写真.png", kind="other")
        db.session.commit()
    upload_root = Path(app.config["UPLOAD_ROOT"])
    result = _run([BACKUP, tmp_path / "backups"], {"DATABASE_URL": database["owner_url"], "UPLOAD_ROOT": str(upload_root)})
    assert result.returncode == 0, result.stderr
    directory = Path(result.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in directory.iterdir()) == [
        "INFO", "MANIFEST.sha256", "database.dump", "uploads.sha256", "uploads.tar"]
    return {"dir": directory, "world": world, "upload_root": upload_root}


def test_restore_into_an_empty_database_brings_back_every_row_file_policy_and_an_intact_audit_chain(
        backup, database, make_app, tmp_path):
    name = f"teichaku_restore_{uuid.uuid4().hex[:10]}"
    restored_uploads = tmp_path / "restored-uploads"
    env = {"DATABASE_URL": _owner_url(name), "UPLOAD_ROOT": str(restored_uploads), "PG_ADMIN_URL": PG_ADMIN_URL}
    try:
        result = _run([RESTORE, backup["dir"]], env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "audit chains verified" in result.stdout

        original, restored = _database_snapshot(database["owner_url"]), _database_snapshot(_owner_url(name))
        assert original["rows"]["audit_entries"][0] > 0 and original["rows"]["case_documents"][0] >= 2
        assert restored["rows"] == original["rows"]
        assert restored["rls"] == original["rls"] and restored["policies"] == original["policies"]
        assert restored["grants"] == original["grants"]

        sums = _file_sums(restored_uploads)
        assert len(sums) >= 2 and sums == _file_sums(backup["upload_root"])

        verify = _run([FLASK, "--app", "wsgi", "audit", "verify"], {"DATABASE_URL": _owner_url(name)})
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "OK" in verify.stdout

        # The restored installation serves B's document to B, as the application role, from the
        # new upload directory (its size and hash checked against the restored row).
        from teichaku.platform.centers import center_by_code
        from teichaku.platform.extensions import db
        from teichaku.platform.tenancy import set_tenant
        from teichaku.tenants.records import services

        restored_app = make_app(DATABASE_URL=_owner_url(name), UPLOAD_ROOT=str(restored_uploads))
        with restored_app.app_context():
            set_tenant(center_by_code("osaka").id)
            case = services.load_case(backup["world"].cases["b"]["id"])
            _doc, data = services.download_document(case, backup["world"].objects["records_b"]["document_id"])
            db.session.rollback()
            db.engine.dispose()
        assert data == B_PDF
    finally:
        _drop_database(name)


@pytest.mark.parametrize("damaged", ["database.dump", "uploads.tar", "uploads.sha256"])
def test_a_damaged_backup_is_refused_by_the_manifest_before_anything_is_written(backup, tmp_path, damaged):
    copy = tmp_path / "damaged"
    shutil.copytree(backup["dir"], copy)
    target = copy / damaged
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle
    target.write_bytes(bytes(data))
    name = f"teichaku_restore_{uuid.uuid4().hex[:10]}"
    uploads = tmp_path / "restored-uploads"
    try:
        result = _run([RESTORE, copy], {"DATABASE_URL": _owner_url(name), "UPLOAD_ROOT": str(uploads),
                                        "PG_ADMIN_URL": PG_ADMIN_URL})
        assert result.returncode != 0
        assert "MANIFEST" in result.stderr and damaged in result.stderr
        assert not _database_exists(name) and not uploads.exists()
    finally:
        _drop_database(name)

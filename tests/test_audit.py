"""The audit trail: written with every read and change, per-center hash chains, tamper detection."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests import factories
from tests.crossprocess import REPO_ROOT, VENV_BIN


def _entries(owner_engine, action=None):
    sql = "select e.action, e.person_id, e.actor_id, e.request_id, e.ip, c.code from audit_entries e left join centers c on c.id = e.center_id"
    if action:
        sql += " where e.action = :a"
    with owner_engine.connect() as conn:
        return conn.execute(text(sql + " order by e.center_id, e.seq"), {"a": action}).all()


def test_reading_a_person_record_is_audited_with_who_what_and_request_id(api, world, owner_engine):
    response = api("a_staff").get(f"/api/v1/cases/{world.cases['a']['id']}", headers={"X-Request-ID": "req-abcdef12"})
    assert response.status_code == 200
    reads = _entries(owner_engine, "case.read")
    assert len(reads) == 1
    action, person_id, actor_id, request_id, ip, center = reads[0]
    assert str(person_id).replace("-", "") == str(world.cases["a"]["person_id"]).replace("-", "")
    assert str(actor_id).replace("-", "") == str(world.users["a_staff"]["id"]).replace("-", "")
    assert (request_id, center) == ("req-abcdef12", "tokyo") and ip


def test_a_change_is_audited_with_its_old_and_new_values(api, world, owner_engine):
    response = api("a_staff").patch(f"/api/v1/cases/{world.cases['a']['id']}", headers={"If-Match": '"1"'},
                         json={"release_date": "2027-06-01"})
    assert response.status_code == 200
    with owner_engine.connect() as conn:
        details = conn.execute(text("select details from audit_entries where action = 'case.update'")).scalar()
    import json

    details = json.loads(details) if isinstance(details, str) else details
    assert details == {"release_date": ["2027-03-01", "2027-06-01"]}


def test_a_refused_change_leaves_no_audit_entry_and_no_change(api, world, owner_engine):
    response = api("a_staff").patch(f"/api/v1/cases/{world.cases['a']['id']}", headers={"If-Match": '"7"'}, json={"release_date": "2027-06-01"})
    assert response.status_code == 409
    assert _entries(owner_engine, "case.update") == []


def test_chains_are_per_center(api, world, owner_engine, app):
    b_token = factories.api_token(app.test_client(), world.users["b_staff"])
    app.test_client().get(f"/api/v1/cases/{world.cases['b']['id']}", headers={"Authorization": f"Bearer {b_token}"})
    api("a_staff").get(f"/api/v1/cases/{world.cases['a']['id']}")
    centers = {row[5] for row in _entries(owner_engine, "case.read")}
    assert centers == {"tokyo", "osaka"}
    with owner_engine.connect() as conn:
        seqs = conn.execute(text("select center_id, min(seq), max(seq), count(*) from audit_entries group by center_id")).all()
    for _center, first, last, count in seqs:
        assert first == 1 and last == count  # each center's chain is gap-free from 1


def _verify(*args) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "audit", "verify", *args],
                          cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def test_audit_verify_passes_on_an_untouched_log(api, world):
    api("a_staff").get(f"/api/v1/cases/{world.cases['a']['id']}")
    result = _verify()
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


@pytest.mark.parametrize("tamper", [
    "update audit_entries set action = 'case.list' where action = 'case.read'",
    "update audit_entries set details = '{\"release_date\": [\"x\", \"y\"]}' where action = 'case.create'",
    "delete from audit_entries where action = 'case.read'",
    "delete from audit_entries where seq = (select max(seq) from audit_entries a2 where a2.center_id = audit_entries.center_id)",
])
def test_audit_verify_catches_an_edited_or_deleted_entry(api, world, owner_engine, tamper):
    api("a_staff").get(f"/api/v1/cases/{world.cases['a']['id']}")
    api("a_staff").get("/api/v1/cases")
    with owner_engine.begin() as conn:
        assert conn.execute(text(tamper)).rowcount >= 1
    result = _verify()
    assert result.returncode == 1
    assert "TAMPERED" in result.stdout


def test_blanking_personal_values_keeps_the_chain_valid(app, world, owner_engine):
    """Retention may drop an entry's personal values; the chain must still verify."""
    from sqlalchemy import select

    from teichaku.platform.audit.models import AuditEntry
    from teichaku.platform.audit.services import blank_personal_values, verify
    from teichaku.platform.extensions import db
    from teichaku.app import create_app

    owner_app = create_app({"TESTING": True}, database_role="owner")
    with owner_app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "person.create")).first()
        assert entry.details["family_name"]
        blank_personal_values(entry)
        db.session.commit()
        assert verify().ok
        db.engine.dispose()


def test_center_admin_sees_their_centers_log_filtered_by_user(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    admin = app.test_client()
    staff = app.test_client()
    factories.sign_in(staff, world.users["a_staff"])
    staff.get(f"/cases/{world.cases['a']['id']}")
    factories.sign_in(admin, world.users["a_admin"])
    page = admin.post("/center/audit", data={"actor_id": str(world.users["a_staff"]["id"])}).get_data(as_text=True)
    assert "case.read" in page
    assert "auth.signin" in page
    only_admin = admin.post("/center/audit", data={"actor_id": str(world.users["a_admin"]["id"])}).get_data(as_text=True)
    assert "case.read" not in only_admin


def test_staff_cannot_open_the_audit_log(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    assert c.get("/center/audit").status_code == 403


def test_cross_tenant_escape_hatch_is_audited(app, world, owner_engine):
    from sqlalchemy import func, select

    from teichaku.platform.centers import center_by_code
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import cross_tenant, set_tenant
    from teichaku.tenants.cases.models import Case

    with owner_engine.connect() as conn:  # the world's own cross-tenant work (transfers, notifications)
        before = set(conn.execute(text("select center_id, seq from audit_entries where action = 'cross_tenant.read'")).all())
        every_case = conn.execute(text("select count(*) from cases")).scalar()
    assert every_case >= 3  # A's, B's and C's at least (world extensions may add more)
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
        with cross_tenant("test.national_count"):
            assert db.session.scalar(select(func.count()).select_from(Case)) == every_case
        assert db.session.scalar(select(func.count()).select_from(Case)) == 1
        db.session.commit()
    with owner_engine.connect() as conn:
        rows = [object_id for center_id, seq, object_id in conn.execute(text(
            "select center_id, seq, object_id from audit_entries where action = 'cross_tenant.read'"))
            if (center_id, seq) not in before]
    assert rows == ["test.national_count"]

"""The one transaction boundary (``platform/transaction.py``), each test named after the rule it
defends: after-commit actions wait for the outermost commit and follow savepoints; the request,
the CLI command and the job each commit once at their end and roll a refusal back (unless it is
marked to keep its writes); and nothing else commits, which an AST walk over the package keeps
true."""
from __future__ import annotations

import ast
import io
import sys
from datetime import timedelta
from pathlib import Path

from flask.cli import AppGroup
from sqlalchemy import text

from teichaku.crosstenant.aggregates.jobs import rebuild_rollups
from teichaku.platform import transaction
from teichaku.platform.audit.services import record
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.i18n import today_jst
from teichaku.platform.jobs import enqueue, job
from teichaku.platform.storage import document_path
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.cases import services as cases
from teichaku.tenants.records import services as records
from teichaku.crosstenant.retention import services as retention
from tests import factories
from tests.helpers import api_error, ok

PACKAGE = Path(__file__).resolve().parent.parent / "teichaku"
PDF = b"%PDF-1.4\n% boundary test\n%%EOF\n"
# Session bookkeeping (last use of a session or token) is not what a view writes.
NOT_COMPARED = {"user_sessions", "api_tokens"}


# --- helpers -----------------------------------------------------------------------------------

def _snapshot(owner_engine) -> dict[str, list]:
    """Every row of every table (the schema owner's view, past RLS), to show nothing changed."""
    tables = [t.name for t in db.metadata.sorted_tables if t.name not in NOT_COMPARED]
    with owner_engine.connect() as conn:
        return {name: sorted(map(repr, conn.execute(text(f'select * from "{name}"')).all())) for name in tables}


def _changed_tables(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def _audit_count(owner_engine, action: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from audit_entries where action = :a"), {"a": action}).scalar_one()


def _in_tokyo():
    set_tenant(center_by_code("tokyo").id)


# --- after-commit actions and savepoints ------------------------------------------------------------

def test_an_after_commit_action_runs_after_the_outermost_commit_only_and_never_after_a_rollback(app):
    ran = []
    with app.app_context():
        db.session.connection()  # a transaction is open
        transaction.on_commit(lambda: ran.append("outer"))
        savepoint = db.session.begin_nested()
        transaction.on_commit(lambda: ran.append("inner"))
        savepoint.commit()
        assert ran == []  # a savepoint released is no commit
        db.session.commit()
        assert ran == ["outer", "inner"]
        db.session.connection()
        transaction.on_commit(lambda: ran.append("rolled back"))
        db.session.rollback()
        db.session.connection()
        db.session.commit()  # a later commit does not run what the rollback dropped
    assert ran == ["outer", "inner"]


def test_an_action_of_a_savepoint_rolled_back_is_dropped_one_registered_before_it_survives_and_its_undo_runs(app):
    ran = []
    with app.app_context():
        db.session.connection()
        transaction.on_commit(lambda: ran.append("registered before the savepoint"))
        savepoint = db.session.begin_nested()
        transaction.on_commit(lambda: ran.append("registered in the savepoint"))
        transaction.on_rollback(lambda: ran.append("savepoint undone"))
        savepoint.rollback()
        assert ran == ["savepoint undone"]
        db.session.commit()
    assert ran == ["savepoint undone", "registered before the savepoint"]


def test_an_erasure_removes_its_files_at_commit_even_after_a_savepoint_of_its_transaction_rolled_back(app, world,
                                                                                                     monkeypatch):
    """Issue 13's named exception: the erasure's own queue dropped its files on any savepoint
    rollback, so the erased person's document stayed on disk."""
    case = factories.make_case(app, "tokyo")
    with app.app_context():
        _in_tokyo()
        loaded = records.load_case(case["id"])
        document = records.upload_document(loaded, stream=io.BytesIO(PDF), filename="書類.pdf", kind="other")
        loaded = cases.read_case(case["id"])
        cases.transition_case(loaded, "closed", expected_version=loaded.version,
                              closing={"closing_reason": "other", "closing_note": "終結"})
        db.session.commit()
        path = document_path(center_by_code("tokyo").id, document.id)
    assert path.exists()
    day = today_jst() + timedelta(days=365 * 6 + 60)
    monkeypatch.setattr(retention, "today_jst", lambda: day)
    with app.app_context():
        _in_tokyo()
        retention.run_review(day)
        review = next(r for r in retention.list_reviews() if r.person_id == case["person_id"])
        assert retention.confirm_erasure(review.id, actor=None, expected_version=review.version).erased
        savepoint = db.session.begin_nested()  # another step of the same transaction fails
        db.session.execute(text("select 1"))
        savepoint.rollback()
        assert path.exists()  # nothing is removed before the commit
        db.session.commit()
    assert not path.exists()


def test_a_failing_after_commit_action_is_logged_and_the_commit_stands(app, world, owner_engine, capsys):
    ran = []

    def fails():
        raise RuntimeError("the queue is down")

    with app.app_context():
        _in_tokyo()
        record("test.boundary_commit_stands")
        transaction.on_commit(fails)
        transaction.on_commit(lambda: ran.append("the next action"))
        db.session.commit()
    assert "after_transaction_action_failed" in capsys.readouterr().err
    assert ran == ["the next action"]
    assert _audit_count(owner_engine, "test.boundary_commit_stands") == 1


# --- the request ------------------------------------------------------------------------------------

def test_a_page_answering_422_for_a_bad_form_changes_nothing(make_app, world, owner_engine):
    client = make_app(WTF_CSRF_ENABLED=False).test_client()
    assert factories.sign_in(client, world.users["a_admin"]).status_code == 302
    before = _snapshot(owner_engine)
    response = client.post("/retention/rules", data={"years_coordination": "0", "years_follow_up": "5",
                                                     "years_suspect_support": "5", "years_consultation": "abc"})
    assert response.status_code == 422
    assert _changed_tables(before, _snapshot(owner_engine)) == []


def test_an_api_refusal_changes_nothing(api, owner_engine):
    draft = ok(api("a_staff").post("/api/v1/case-studies", json={
        "title": "検討委員会で支援の質を高めた取組み", "tags": ["review_committee"],
        "background": "外部の専門職から助言を得る仕組みが必要だった。", "actions": "月1回の定例会を開催した。",
        "outcomes": "支援の質が安定した。"}), 201)
    assert draft["status"] == "checked", draft["pii_findings"]
    admin = api("a_admin")  # its token is issued (and audited) now, not inside the refusal
    before = _snapshot(owner_engine)
    stale = admin.post(f"/api/v1/case-studies/{draft['id']}/publish", headers={"If-Match": '"99"'})
    api_error(stale, 409, "version_conflict")
    assert _changed_tables(before, _snapshot(owner_engine)) == []


def test_a_refusal_marked_to_keep_its_writes_keeps_them(app, world, api, owner_engine):
    # A failed token request answers 401 and keeps the attempt's audit entry.
    user = world.users["a_staff"]
    refused = app.test_client().post("/api/v1/auth/token", json={"email": user["email"], "password": "wrong-password"})
    api_error(refused, 401, "invalid_credentials")
    assert _audit_count(owner_engine, "auth.signin_failed") == 1
    # A publication refused for a finding the last check made keeps that finding.
    draft = ok(api("a_staff").post("/api/v1/case-studies", json={
        "title": "支援会議の工夫", "tags": ["review_committee"], "background": "外部の専門職から助言を得た。",
        "actions": "支援会議で蒼穹の意向を確認した。", "outcomes": "支援の質が安定した。"}), 201)
    assert draft["status"] == "checked"  # nobody of that name in the records yet
    factories.make_case(app, "tokyo", person=factories.person_payload(
        family_name="蒼穹", given_name="晴", family_name_kana="そうきゅう", given_name_kana="はる"))
    api_error(api("a_admin").post(f"/api/v1/case-studies/{draft['id']}/publish"), 422, "validation_error")
    with owner_engine.connect() as conn:
        kinds = conn.execute(text("select f.kind from case_study_findings f join case_study_drafts d on d.id = f.draft_id"
                                  " where d.study_id = :s"), {"s": draft["id"]}).scalars().all()
    assert kinds == ["known_person"]


# --- the CLI command and the job ------------------------------------------------------------------

def test_a_cli_command_exiting_non_zero_writes_nothing(app, world, owner_engine):
    before = _snapshot(owner_engine)
    taken = world.users["a_staff"]["email"]
    result = app.test_cli_runner().invoke(args=["users", "create", "--email", taken, "--password", "x" * 16,
                                                "--role", "staff", "--center", "tokyo"])
    assert result.exit_code == 2, result.output
    probe = AppGroup("probe")

    @probe.command("write-then-fail")
    def write_then_fail() -> None:
        _in_tokyo()
        record("test.boundary_cli_exit")
        sys.exit(3)

    transaction.wrap_commands(probe)
    result = app.test_cli_runner().invoke(probe, ["write-then-fail"])
    assert result.exit_code == 3, result.output
    assert _changed_tables(before, _snapshot(owner_engine)) == []


@job
def _write_then_raise() -> None:
    _in_tokyo()
    record("test.boundary_job_raised")
    raise RuntimeError("the job fails after writing")


def test_a_job_that_raises_writes_nothing(app, world, owner_engine):
    with app.app_context():
        try:
            _write_then_raise()
        except RuntimeError:
            pass
        else:
            raise AssertionError("the job should have raised")
    assert _audit_count(owner_engine, "test.boundary_job_raised") == 0


def test_a_long_job_reports_progress_in_its_rq_meta_and_records_its_run_once_with_the_outcome(make_app, world,
                                                                                               owner_engine):
    with make_app(JOBS_IN_PROCESS=True).app_context():  # RQ runs the job at once, as a job
        queued = enqueue(rebuild_rollups, 2025)
    progress = queued.meta["progress"]
    assert progress["centers_done"] == progress["centers"] == 48 and progress["mismatches"] == 0
    with owner_engine.connect() as conn:
        runs = conn.execute(text("select status, centers, finished_at is not null from rollup_runs")).all()
    assert runs == [("done", 48, True)]


# --- nothing else commits -------------------------------------------------------------------------

# Where ``session.commit()`` may appear, and why.  Nothing of the blueprints is here: a request
# commits only at its boundary.
ALLOWED_COMMITS = {
    ("platform/transaction.py", "_end"): "the boundary itself",
    ("platform/handover/export.py", "export_center"): "the second app's snapshot and audit entry (handover/cli.py)",
    ("platform/handover/import_.py", "_load"): "the second app's import, once the files are in place (handover/cli.py)",
    ("crosstenant/notifications/delivery.py", "_deliver_locked"): "committed before the e-mail; one event each",
    ("crosstenant/notifications/delivery.py", "_send_pending_emails"): "each e-mail marked sent after it went",
    ("crosstenant/notifications/delivery.py", "_record_failure"): "the failed attempt, in its own transaction",
    ("crosstenant/aggregates/jobs.py", "sweep_dirty_slices"): "one slice per transaction (its advisory lock)",
    ("crosstenant/aggregates/jobs.py", "rebuild_rollups"): "one center per transaction (its advisory locks)",
    ("crosstenant/aggregates/jobs.py", "_record_run"): "the run's outcome survives a failure or the CLI's exit 1",
    ("workers/jobs.py", "raise_deadline_reminders"): "one center per transaction",
    ("workers/jobs.py", "review_retention"): "one center per transaction",
}
# Job protocols say why on the line of each commit.
EXPLAINED_ON_THE_LINE = {"crosstenant/notifications/delivery.py", "crosstenant/aggregates/jobs.py", "workers/jobs.py"}


def _session_commits() -> list[tuple[str, str, int, str]]:
    """(module path under teichaku/, enclosing function, line, source line) of every
    ``<...session>.commit()`` call in the package."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        source = path.read_text("utf-8")
        lines = source.splitlines()
        relative = path.relative_to(PACKAGE).as_posix()

        def visit(node: ast.AST, function: str) -> None:
            for child in ast.iter_child_nodes(node):
                inner = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else function
                if (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "commit"
                        and ast.unparse(child.func.value).endswith("session")):
                    found.append((relative, function, child.lineno, lines[child.lineno - 1]))
                visit(child, inner)

        visit(ast.parse(source), "<module>")
    return found


def test_no_blueprint_commits_the_request_commits_at_its_boundary():
    offenders = [f"{path}:{line}" for path, _f, line, _s in _session_commits() if path.startswith("blueprints/")]
    assert offenders == []


def test_nothing_commits_but_the_boundary_the_handover_exception_and_the_documented_job_protocols():
    offenders = [f"{path}:{line} ({function})" for path, function, line, _s in _session_commits()
                 if (path, function) not in ALLOWED_COMMITS]
    assert offenders == []
    unexplained = [f"{path}:{line}" for path, _f, line, source in _session_commits()
                   if path in EXPLAINED_ON_THE_LINE and "#" not in source]
    assert unexplained == []

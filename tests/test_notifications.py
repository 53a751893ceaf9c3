"""Notifications of cross-tenant events: outbox written with the event, delivered by real RQ
workers, exactly one inbox entry per recipient whatever happens to the worker or to Redis,
e-mail with a link and no personal data, the inbox API and pages, failed deliveries for the
platform admin."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
import zlib

import pytest
import redis
from sqlalchemy import text

from teichaku.crosstenant.notifications import delivery, services
from teichaku.crosstenant.notifications.delivery import DeliveryFailed, deliver, sweep
from teichaku.crosstenant.notifications.services import emit
from teichaku.platform.auth.services import set_user_active
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import account_lookup, set_tenant
from tests import factories
from tests.conftest import BACKEND, REDIS_TEST_URL, rls_scope
from tests.crossprocess import REPO_ROOT, VENV_BIN, free_port
from tests.smtp_server import LocalSMTPServer

QUEUE = os.environ["RQ_QUEUE"]
CONTRACT_KEYS = {"case_study_id", "id", "kind", "created_at", "read_at", "transfer_id", "pull_id"}


# --- helpers -----------------------------------------------------------------------------------

def _center_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def _emit(app, kind="transfer_requested", *, to="osaka", association=False, from_center="tokyo", transfer_id=None):
    """Emit an event in a center's scope (as the transfers service does) and commit."""
    with app.app_context():
        set_tenant(center_by_code(from_center).id)
        event = emit(kind, to_center_id=center_by_code(to).id if to else None, to_association=association,
                     transfer_id=transfer_id)
        db.session.commit()
        return event.id


def _deliver(app, event_id):
    with app.app_context():  # like a job: its own context, no tenant
        return deliver(event_id)


def _recipients(owner_engine, event_id) -> list:
    with owner_engine.connect() as conn:
        return sorted(conn.execute(text("select recipient_user_id from notifications where event_id = :e"),
                                   {"e": event_id}).scalars().all())


def _outbox(owner_engine, event_id) -> dict:
    with owner_engine.connect() as conn:
        row = conn.execute(text("select * from outbox_events where id = :e"), {"e": event_id}).mappings().one_or_none()
        return dict(row) if row else None


def _ids(*users) -> list:
    return sorted(u["id"] for u in users)


def _queued_job_ids() -> list[str]:
    return [j.decode() for j in redis.Redis.from_url(REDIS_TEST_URL).lrange(f"rq:queue:{QUEUE}", 0, -1)]


def _burst_worker(extra_env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    env = os.environ.copy()
    env.update(extra_env or {})
    return subprocess.run(_worker_command(), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _worker_command() -> list[str]:
    return [str(VENV_BIN / "rq"), "worker", "--burst", "-u", REDIS_TEST_URL, "-w", "teichaku.workers.worker.TeichakuWorker",
            "--serializer", "json", QUEUE]


def _locked(owner_engine, event_id) -> bool:
    """Whether a delivery holds the event's row lock (an open delivery transaction)."""
    with owner_engine.begin() as conn:
        return conn.execute(text("select id from outbox_events where id = :e for update skip locked"),
                            {"e": event_id}).scalar() is None


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _wait_for(predicate, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(message() if callable(message) else message)


@pytest.fixture(autouse=True)
def quiet_outbox(request):
    """Other modules' world extensions emit events too (transfers): deliver them and empty this
    run's queue first, so that each test sees only its own events in the outbox and in Redis."""
    if "world" not in request.fixturenames:
        return
    request.getfixturevalue("world")
    app = request.getfixturevalue("app")
    from teichaku.crosstenant.notifications.models import OutboxEvent

    with app.app_context():
        pending = db.session.scalars(db.select(OutboxEvent.id).where(OutboxEvent.delivered_at.is_(None))).all()
        db.session.rollback()
    for event_id in pending:
        _deliver(app, event_id)
    redis.Redis.from_url(REDIS_TEST_URL).delete(f"rq:queue:{QUEUE}")


pg_only = pytest.mark.skipif(BACKEND != "postgres", reason="needs PostgreSQL (row locks, RLS)")


# --- who receives what -------------------------------------------------------------------------

def test_an_event_reaches_every_active_staff_and_admin_of_the_center_and_nobody_else(app, world, owner_engine):
    extra_staff = factories.make_user(app, "staff", "osaka")
    gone = factories.make_user(app, "staff", "osaka")
    factories.make_user(app, "prefecture", "osaka")
    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        with account_lookup():
            from teichaku.platform.auth.models import User

            set_user_active(db.session.get(User, gone["id"]), False)
        db.session.commit()

    event_id = _emit(app, to="osaka")
    assert _outbox(owner_engine, event_id)["delivered_at"] is None
    assert _deliver(app, event_id) == "delivered"

    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"], extra_staff)
    assert _outbox(owner_engine, event_id)["delivered_at"] is not None
    with owner_engine.connect() as conn:
        centers = set(conn.execute(text("select center_id from notifications where event_id = :e"), {"e": event_id}).scalars())
    assert centers == {_center_id(app, "osaka")}


def test_an_event_for_the_association_reaches_association_users_only(app, world, owner_engine):
    event_id = _emit(app, "transfer_reminder", to=None, association=True)
    _deliver(app, event_id)
    assert _recipients(owner_engine, event_id) == _ids(world.users["association"])
    with owner_engine.connect() as conn:
        assert conn.execute(text("select center_id from notifications where event_id = :e"), {"e": event_id}).scalar() is None


def test_emit_refuses_an_unknown_kind_and_an_event_without_recipients(app):
    with app.app_context():
        with pytest.raises(ValueError):
            emit("something_else", to_center_id=center_by_code("osaka").id)
        with pytest.raises(ValueError):
            emit("transfer_requested")
        db.session.rollback()


def test_the_outbox_row_is_written_in_the_callers_transaction_and_a_rollback_enqueues_nothing(app, world, owner_engine):
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        event = emit("transfer_requested", to_center_id=center_by_code("osaka").id)
        event_id = event.id
        db.session.rollback()
    assert _outbox(owner_engine, event_id) is None
    assert _queued_job_ids() == []

    event_id = _emit(app)
    assert _outbox(owner_engine, event_id) is not None
    assert len(_queued_job_ids()) == 1


def test_delivery_jobs_carry_the_event_id_only_with_the_json_serializer(app, world):
    event_id = _emit(app, transfer_id=uuid.uuid4())
    (job_id,) = _queued_job_ids()
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    payload = json.loads(zlib.decompress(connection.hget(f"rq:job:{job_id}", "data")))
    assert payload[0] == "teichaku.crosstenant.notifications.delivery.deliver_event"
    assert payload[2] == [str(event_id)] and payload[3] == {}
    assert 0 < connection.ttl(f"rq:job:{job_id}") <= 24 * 3600  # a lost job is re-made by the sweep


def test_delivering_an_event_twice_delivers_once(app, world, owner_engine):
    event_id = _emit(app)
    assert _deliver(app, event_id) == "delivered"
    assert _deliver(app, event_id) == "already_delivered"
    # Even the insert itself, run again for the same event, adds nothing.
    with app.app_context():
        from teichaku.crosstenant.notifications.models import OutboxEvent
        from teichaku.platform.tenancy import cross_tenant

        with cross_tenant("tests"):
            delivery._insert_notifications(db.session.get(OutboxEvent, event_id))
        db.session.commit()
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])
    assert _outbox(owner_engine, event_id)["attempts"] == 1


def test_delivery_records_the_cross_tenant_use_in_the_audit_log(app, world, owner_engine):
    event_id = _emit(app)
    _deliver(app, event_id)
    with owner_engine.connect() as conn:
        purposes = conn.execute(text("select object_id from audit_entries where action = 'cross_tenant.read'")).scalars().all()
    assert "notifications.deliver" in purposes


# --- real workers, killed workers, lost Redis keys -----------------------------------------------

@pytest.mark.slow
def test_a_real_rq_worker_delivers_an_event_to_the_inboxes(app, world, owner_engine):
    event_id = _emit(app)
    result = _burst_worker()
    assert result.returncode == 0, result.stderr[-3000:]
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"]), result.stderr[-3000:]


@pytest.mark.slow
@pg_only
def test_a_worker_killed_mid_delivery_then_a_new_worker_and_the_sweep_leave_one_entry_per_recipient(app, world, owner_engine, tmp_path):
    event_id = _emit(app)
    env = os.environ.copy()
    env["TEICHAKU_TEST_DELIVERY_DELAY"] = "60"  # the delivery waits inside its transaction
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(_worker_command(), cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        _wait_for(lambda: _locked(owner_engine, event_id), 60, lambda: "the worker never reached the middle of the delivery:\n" + (tmp_path / "worker.log").read_text()[-4000:])
        time.sleep(1)  # past the inserts, inside the (slowed) commit
    finally:
        # The work horse (RQ puts it in a process group of its own) and the worker, mid-transaction.
        for pid in _children(worker.pid):
            os.kill(pid, signal.SIGKILL)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    _wait_for(lambda: not _locked(owner_engine, event_id), 30, "the killed transaction is still open")
    assert _recipients(owner_engine, event_id) == []
    assert _outbox(owner_engine, event_id)["delivered_at"] is None

    with app.app_context():
        assert sweep(older_than_seconds=0) == 1
    result = _burst_worker()
    assert result.returncode == 0, result.stderr[-3000:]
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])
    assert _outbox(owner_engine, event_id)["delivered_at"] is not None


@pytest.mark.slow
def test_redis_losing_its_keys_after_the_commit_still_delivers_after_the_sweep(app, world, owner_engine):
    event_id = _emit(app)
    # A Redis restart without persistence: this run's queue and its jobs are gone (only this
    # run's keys: another run may share the database).
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    job_ids = _queued_job_ids()
    assert job_ids
    keys = list(connection.scan_iter(match=f"*{QUEUE}*")) + [f"rq:job:{j}" for j in job_ids]
    connection.delete(*keys)
    result = _burst_worker()
    assert result.returncode == 0, result.stderr[-3000:]
    assert _recipients(owner_engine, event_id) == []  # nothing left in Redis to deliver it

    with app.app_context():
        assert sweep(older_than_seconds=0) == 1
    result = _burst_worker()
    assert result.returncode == 0, result.stderr[-3000:]
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])


def test_redis_down_at_commit_keeps_the_event_and_the_sweep_delivers_it(make_app, world, owner_engine):
    # Redis answered when the app started, and does not at commit time.
    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/15", REDIS_AVAILABLE=True)
    event_id = _emit(down)  # the commit succeeds; the enqueue failure is swallowed
    outbox = _outbox(owner_engine, event_id)
    assert outbox is not None and outbox["delivered_at"] is None
    assert _recipients(owner_engine, event_id) == []

    in_process = make_app(REDIS_AVAILABLE=False)
    with in_process.app_context():
        assert sweep() == 0  # too recent for the sweep yet
        assert sweep(older_than_seconds=0) == 1
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])


def test_the_sweep_enqueues_an_event_once_per_window_and_leaves_delivered_ones(app, world, owner_engine):
    event_id = _emit(app)
    with app.app_context():
        assert sweep() == 0  # younger than OUTBOX_SWEEP_AFTER_SECONDS: its commit-time job is enough
        assert sweep(older_than_seconds=0) == 1
        assert sweep(older_than_seconds=0) == 0  # that job exists: no flooding
    assert len(_queued_job_ids()) == 2  # the commit-time job and the sweep's
    _deliver(app, event_id)
    with app.app_context():
        assert sweep(older_than_seconds=0) == 0


def test_events_are_delivered_in_process_when_redis_does_not_answer(make_app, world, owner_engine):
    in_process = make_app(REDIS_AVAILABLE=False)
    event_id = _emit(in_process)
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])


# --- failures and the platform admin ---------------------------------------------------------

def test_a_failing_delivery_records_a_code_retries_then_fails_and_the_platform_admin_retries_it(make_app, world, owner_engine, monkeypatch):
    app = make_app(WTF_CSRF_ENABLED=False, OUTBOX_MAX_ATTEMPTS=2, REDIS_AVAILABLE=False)
    event_id = _emit(make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/15", REDIS_AVAILABLE=True))

    def broken(_event):
        raise RuntimeError("乙川 秘子 could not be reached")  # a personal value in the message

    monkeypatch.setattr(delivery, "_recipients", broken)
    with pytest.raises(DeliveryFailed) as raised:
        _deliver(app, event_id)
    assert "乙川" not in str(raised.value) and str(event_id) in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    row = _outbox(owner_engine, event_id)
    assert (row["attempts"], row["last_error"], row["failed_at"]) == (1, "RuntimeError", None)
    assert row["next_attempt_at"] is not None and row["delivered_at"] is None
    with pytest.raises(DeliveryFailed):
        _deliver(app, event_id)
    row = _outbox(owner_engine, event_id)
    assert row["attempts"] == 2 and row["failed_at"] is not None
    assert _deliver(app, event_id) == "failed"  # RQ's own retries stop at a failed event
    with app.app_context():
        assert sweep(older_than_seconds=0) == 0  # so does the sweep

    admin = app.test_client()
    factories.sign_in(admin, world.users["platform_admin"])
    page = admin.get("/platform/deliveries")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert str(event_id) in body and "RuntimeError" in body and "乙川" not in body

    staff = app.test_client()
    factories.sign_in(staff, world.users["b_staff"])
    assert staff.get("/platform/deliveries").status_code == 403
    assert staff.post(f"/platform/deliveries/{event_id}/retry").status_code == 403

    monkeypatch.undo()
    response = admin.post(f"/platform/deliveries/{event_id}/retry")
    assert response.status_code == 302
    # Without Redis the retry runs in-process right after the commit.
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])
    row = _outbox(owner_engine, event_id)
    assert row["failed_at"] is None and row["delivered_at"] is not None
    assert admin.post(f"/platform/deliveries/{event_id}/retry").status_code == 404  # delivered now
    assert admin.post(f"/platform/deliveries/{uuid.uuid4()}/retry").status_code == 404
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_entries where action = 'outbox.retry'")).scalar() == 1


# --- e-mail ----------------------------------------------------------------------------------

def test_email_goes_through_smtp_with_a_link_and_no_personal_data(make_app, world, owner_engine):
    named = factories.make_user(make_app(), "staff", "osaka", display_name="乙原 通知子", display_name_kana="おとはら つうちこ")
    with LocalSMTPServer() as smtp:
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port, SMTP_FROM="teichaku@example.jp",
                       PUBLIC_BASE_URL="https://teichaku.example.jp")
        with app.app_context():  # b_admin turned e-mail off
            from teichaku.platform.auth.models import User

            set_tenant(center_by_code("osaka").id)
            services.set_email_preference(db.session.get(User, world.users["b_admin"]["id"]), False)
            db.session.commit()
        event_id = _emit(app, transfer_id=uuid.uuid4())
        assert _deliver(app, event_id) == "delivered"
        messages = smtp.parsed()
        envelopes = [rcpts for _, rcpts, _ in smtp.messages]

    assert sorted(r for rcpts in envelopes for r in rcpts) == sorted([world.users["b_staff"]["email"], named["email"]])
    for message in messages:
        body = message.get_content()
        assert "https://teichaku.example.jp/notifications" in body
        assert "お知らせ" in body and "お知らせ" in message["Subject"]
        whole = message.as_string() + body
        for secret in ("乙原", "通知子", "おとはら", world.cases["b"]["person_name"], world.cases["b"]["case_number"],
                       "transfer", str(event_id)):
            assert secret not in whole, secret
        assert message["From"] == "teichaku@example.jp"
    with owner_engine.connect() as conn:
        statuses = dict(conn.execute(text("select recipient_user_id, email_status from notifications where event_id = :e"),
                                     {"e": event_id}).all())
    assert statuses == {world.users["b_staff"]["id"]: "sent", named["id"]: "sent", world.users["b_admin"]["id"]: None}
    assert _outbox(owner_engine, event_id)["email_pending"] is False


def test_smtp_down_keeps_the_inbox_entries_and_a_later_run_sends_the_email(make_app, world, owner_engine):
    port = free_port()
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    event_id = _emit(app)
    with pytest.raises(DeliveryFailed):
        _deliver(app, event_id)
    row = _outbox(owner_engine, event_id)
    assert row["delivered_at"] is not None and row["email_pending"] is True and row["last_error"].startswith("smtp:")
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])

    with LocalSMTPServer() as smtp:
        later = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        with later.app_context():
            assert sweep(older_than_seconds=0) == 0  # it waits for its next attempt (backoff)
        with owner_engine.begin() as conn:
            conn.execute(text("update outbox_events set next_attempt_at = now() where id = :e"), {"e": event_id})
        with later.app_context():
            assert sweep(older_than_seconds=0) == 1  # e-mail pending counts as undelivered
        assert _deliver(later, event_id) == "emailed"
        assert len(smtp.messages) == 2
    assert _outbox(owner_engine, event_id)["email_pending"] is False
    assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])


# --- the inbox: API and pages ------------------------------------------------------------------

def test_inbox_api_lists_the_callers_notifications_newest_first_and_marks_read(app, world):
    fresh = factories.make_user(app, "staff", "fukuoka")  # nothing in its inbox from the world
    transfer_id = uuid.uuid4()
    first = _emit(app, "transfer_requested", to="fukuoka", transfer_id=transfer_id)
    _deliver(app, first)
    second = _emit(app, "transfer_message", to="fukuoka", transfer_id=transfer_id)
    _deliver(app, second)
    token = factories.api_token(app.test_client(), fresh)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    body = client.get("/api/v1/notifications", headers=headers).get_json()
    assert body["next_cursor"] is None
    kinds = [item["kind"] for item in body["items"]]
    assert kinds == ["transfer_message", "transfer_requested"]  # newest first
    for item in body["items"]:
        assert set(item) == CONTRACT_KEYS
        assert item["read_at"] is None and item["transfer_id"] == str(transfer_id)
        assert item["created_at"].endswith("+00:00")

    page = client.get("/api/v1/notifications?limit=1", headers=headers).get_json()
    assert [i["kind"] for i in page["items"]] == ["transfer_message"] and page["next_cursor"]
    rest = client.get(f"/api/v1/notifications?limit=1&cursor={page['next_cursor']}", headers=headers).get_json()
    assert [i["kind"] for i in rest["items"]] == ["transfer_requested"] and rest["next_cursor"] is None
    assert client.get("/api/v1/notifications?cursor=!!", headers=headers).status_code == 422

    target = body["items"][1]["id"]
    response = client.post(f"/api/v1/notifications/{target}/read", headers=headers)
    assert response.status_code == 200
    read = response.get_json()
    assert set(read) == CONTRACT_KEYS and read["id"] == target and read["read_at"]
    again = client.post(f"/api/v1/notifications/{target}/read", headers=headers).get_json()
    assert again["read_at"] == read["read_at"]  # the first reading time is kept
    listed = {i["id"]: i["read_at"] for i in client.get("/api/v1/notifications", headers=headers).get_json()["items"]}
    assert listed[target] == read["read_at"] and listed[body["items"][0]["id"]] is None


def test_another_users_notification_answers_404_like_a_missing_one(app, world, owner_engine):
    event_id = _emit(app)
    _deliver(app, event_id)
    with owner_engine.connect() as conn:
        b_staff_notification = conn.execute(text(
            "select id from notifications where recipient_user_id = :u"), {"u": world.users["b_staff"]["id"]}).scalar()
    for key in ("a_staff", "b_admin", "association"):  # another center, same center, no center
        headers = {"Authorization": f"Bearer {factories.api_token(app.test_client(), world.users[key])}"}
        client = app.test_client()
        theirs = client.post(f"/api/v1/notifications/{b_staff_notification}/read", headers=headers)
        missing = client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=headers)
        assert theirs.status_code == missing.status_code == 404, key
        assert theirs.get_json() == missing.get_json()
        items = client.get("/api/v1/notifications", headers=headers).get_json()["items"]
        assert str(b_staff_notification) not in {i["id"] for i in items}
    with owner_engine.connect() as conn:
        assert conn.execute(text("select read_at from notifications where id = :n"), {"n": b_staff_notification}).scalar() is None


def test_the_header_shows_the_unread_count_and_the_inbox_marks_read(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False)
    fresh = factories.make_user(app, "staff", "fukuoka")  # nothing in its inbox from the world
    for _ in range(2):
        _deliver(app, _emit(app, to="fukuoka"))
    client = app.test_client()
    assert 'id="unread-count"' not in client.get("/login").get_data(as_text=True)
    factories.sign_in(client, fresh)
    page = client.get("/dashboard").get_data(as_text=True)
    assert '<span class="badge" id="unread-count"' in page and ">2</span>" in page

    inbox = client.get("/notifications")
    assert inbox.status_code == 200
    html = inbox.get_data(as_text=True)
    assert html.count("広域調整の依頼が届きました") == 2 and "未読" in html

    other = app.test_client()
    factories.sign_in(other, factories.make_user(app, "staff", "tokyo"))
    assert 'id="unread-count"' not in other.get("/dashboard").get_data(as_text=True)  # none of C's

    headers = {"Authorization": f"Bearer {factories.api_token(app.test_client(), fresh)}"}
    first = app.test_client().get("/api/v1/notifications", headers=headers).get_json()["items"][0]["id"]
    assert client.post(f"/notifications/{first}/read").status_code == 302
    assert ">1</span>" in client.get("/dashboard").get_data(as_text=True)
    assert client.post(f"/notifications/{uuid.uuid4()}/read").status_code == 404
    assert client.post("/notifications/read-all").status_code == 302
    assert 'id="unread-count"' not in client.get("/dashboard").get_data(as_text=True)


def test_the_email_preference_is_the_users_own_choice(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    for key in ("b_staff", "association"):  # a center user and a user without a center
        client = app.test_client()
        factories.sign_in(client, world.users[key])
        assert 'name="email_notifications"' in client.get("/notifications").get_data(as_text=True)
        assert client.post("/notifications/preferences", data={}).status_code == 302
        with owner_engine.connect() as conn:
            assert conn.execute(text("select email_notifications from users where id = :u"),
                                {"u": world.users[key]["id"]}).scalar() is False
        assert client.post("/notifications/preferences", data={"email_notifications": "y"}).status_code == 302
        with owner_engine.connect() as conn:
            assert conn.execute(text("select email_notifications from users where id = :u"),
                                {"u": world.users[key]["id"]}).scalar() is True


@pg_only
def test_row_level_security_keeps_each_centers_inbox_to_itself(app, world, owner_engine, database):
    from sqlalchemy import create_engine

    _deliver(app, _emit(app, to="fukuoka"))
    _deliver(app, _emit(app, to=None, association=True))
    with owner_engine.connect() as conn:
        by_center = dict(conn.execute(text("select center_id, count(*) from notifications group by center_id")).all())
    assert by_center.get(None) and by_center.get(_center_id(app, "fukuoka"))
    engine = create_engine(database["owner_url"].replace("teichaku_owner@", "teichaku_app@"))
    try:
        with engine.begin() as conn:  # no tenant: the rows of users without a center only
            assert conn.execute(text("select count(*) from notifications where center_id is not null")).scalar() == 0
            assert conn.execute(text("select count(*) from notifications")).scalar() == by_center[None]
        for code in ("tokyo", "osaka", "fukuoka"):
            center_id = _center_id(app, code)
            with engine.begin() as conn:
                rls_scope(conn, tenant=center_id)
                seen = dict(conn.execute(text("select center_id, count(*) from notifications group by center_id")).all())
            assert seen == ({center_id: by_center[center_id]} if center_id in by_center else {}), code
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_worker_delivers_the_other_due_events_and_takes_their_jobs_off_the_queue(app, world, owner_engine):
    with app.app_context():
        set_tenant(center_by_code("tokyo").id)
        ids = [emit("transfer_requested", to_center_id=center_by_code("osaka").id).id for _ in range(5)]
        db.session.commit()  # one commit: five jobs
    assert len(_queued_job_ids()) == 5
    result = _burst_worker()
    assert result.returncode == 0, result.stderr[-3000:]
    for event_id in ids:
        assert _recipients(owner_engine, event_id) == _ids(world.users["b_staff"], world.users["b_admin"])
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    ran = [event_id for event_id in ids if connection.exists(f"rq:job:outbox-{event_id}")]
    assert len(ran) == 1, "the first job's horse delivered the other four and took their jobs off the queue"
    assert _queued_job_ids() == []


def test_the_sweep_runs_every_minute_from_rq_cron():
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis.Redis.from_url(REDIS_TEST_URL))
    scheduler.load_config_from_file("teichaku.workers.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    sweep_job = jobs["teichaku.crosstenant.notifications.delivery.sweep_outbox"]
    assert sweep_job.cron == "* * * * *" and sweep_job.queue_name == QUEUE

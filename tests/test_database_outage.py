"""A database outage is 503 ``unavailable``, never a bare "Internal Server Error" (issue 14).

While PostgreSQL cannot be reached, the API answers 503 in the contract's error body with
``Retry-After`` and ``X-Request-ID``, pages answer the Japanese error page with 503, ``/healthz``
says the database is down; when it is back the next request succeeds by itself, and a write
acknowledged before the outage is still there.  Whatever the error handlers themselves cannot
answer is answered outside Flask (``platform/last_resort.py``), in the same shapes.

The outage is made without touching the shared cluster: the app under test connects through a
TCP proxy in this process (``OutageProxy``), which is cut (every connection closed, every new
one closed as soon as it is accepted) and restored.
"""
from __future__ import annotations

import socket
import threading

import psycopg
import pytest
import sqlalchemy.exc
from flask import request
from sqlalchemy import text

from teichaku.blueprints.api import centers as centers_api
from teichaku.blueprints.pages import dashboard
from teichaku.platform import errors
from tests import factories
from tests.conftest import APP_ROLE, BACKEND
from tests.helpers import api_clients, api_error, ok

pytestmark = pytest.mark.skipif(BACKEND != "postgres", reason="the outage is made in front of PostgreSQL")

UPSTREAM = ("127.0.0.1", 5432)
UNAVAILABLE_TITLE = "ただいま利用できません"  # the 503 page's title
REQUEST_ID = "outage-test-0001"
PRODUCTION_LIKE = {  # exceptions are answered, not raised into the test (as under gunicorn)
    "PROPAGATE_UNEXPECTED": False,
    "PROPAGATE_EXCEPTIONS": False,
    "WTF_CSRF_ENABLED": False,
}


class OutageProxy:
    """A TCP proxy to PostgreSQL: ``cut()`` closes every connection through it and closes each new
    one at once (what a restarting cluster looks like to a client); ``restore()`` ends that."""

    def __init__(self, upstream=UPSTREAM):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # stopped
            try:
                server = socket.create_connection(self.upstream) if self.up else None
            except OSError:
                server = None
            with self.lock:
                if server is None or not self.up:
                    _close(client)
                    if server is not None:
                        _close(server)
                    continue
                self.sockets |= {client, server}
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(target)

    def cut(self) -> None:
        with self.lock:
            self.up = False
            cut, self.sockets = self.sockets, set()
        for sock in cut:
            _close(sock)

    def restore(self) -> None:
        with self.lock:
            self.up = True

    def stop(self) -> None:
        self.cut()
        _close(self.listener)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture()
def proxy():
    running = OutageProxy()
    yield running
    running.stop()


@pytest.fixture()
def outage_app(make_app, database, proxy):
    """An app (application role) whose every database connection goes through ``proxy``."""
    url = f"postgresql+psycopg://{APP_ROLE}@127.0.0.1:{proxy.port}/{database['name']}"
    return make_app(APP_DATABASE_URL=url, **PRODUCTION_LIKE)


def _person(family_name: str) -> dict:
    return {"family_name": family_name, "given_name": "太郎", "family_name_kana": "ていしょう",
            "given_name_kana": "たろう", "birth_date": "1950-01-02", "sex": "male", "support_needs": ["elderly"]}


def _persons_named(owner_engine, family_name: str) -> int:
    with owner_engine.connect() as conn:
        return conn.execute(text("select count(*) from persons where family_name = :n"), {"n": family_name}).scalar()


def assert_unavailable_json(response) -> None:
    error = api_error(response, 503, "unavailable")
    assert "しばらく待って" in error["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-Request-ID"]


def assert_unavailable_page(response) -> None:
    body = response.get_data(as_text=True)
    assert response.status_code == 503, body[:500]
    assert response.mimetype == "text/html" and 'lang="ja"' in body
    assert UNAVAILABLE_TITLE in body and "しばらく待って" in body
    assert "Internal Server Error" not in body
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["X-Request-ID"] and response.headers["X-Request-ID"] in body


def test_a_database_outage_is_503_unavailable_and_the_app_recovers_by_itself(outage_app, proxy, world, owner_engine):
    api = api_clients(outage_app, world)("a_staff")
    page = outage_app.test_client()
    factories.sign_in(page, world.users["a_staff"])
    assert page.get("/dashboard").status_code == 200
    acknowledged = ok(api.post("/api/v1/cases", json={"case_type": "consultation", "person": _person("確認済")}), 201)

    proxy.cut()
    assert_unavailable_json(api.get("/api/v1/me"))
    assert_unavailable_json(api.get("/api/v1/cases"))
    assert_unavailable_json(api.post("/api/v1/cases", json={"case_type": "consultation", "person": _person("停止中")}))
    assert_unavailable_page(page.get("/dashboard", headers={"X-Request-ID": REQUEST_ID}))
    health = outage_app.test_client().get("/healthz")
    assert health.status_code == 503
    assert health.get_json()["status"] == "error" and health.get_json()["database"] == "error"

    proxy.restore()
    assert ok(api.get("/api/v1/me"))["email"] == world.users["a_staff"]["email"]  # the first request succeeds
    assert page.get("/dashboard").status_code == 200
    assert outage_app.test_client().get("/healthz").status_code == 200
    assert ok(api.get(f"/api/v1/cases/{acknowledged['id']}"))["person"]["family_name"] == "確認済"
    assert _persons_named(owner_engine, "確認済") == 1 and _persons_named(owner_engine, "停止中") == 0


def test_an_outage_in_the_middle_of_a_request_is_503_without_loading_the_user_again(outage_app, proxy, world, monkeypatch):
    """The user was loaded before the database went away: the error page must not refresh it
    (nor count its notifications for the header), and the request log must not read it."""

    def cut_then(call):
        def wrapper(*args, **kwargs):
            proxy.cut()
            return call(*args, **kwargs)
        return wrapper

    api = api_clients(outage_app, world)("a_staff")
    page = outage_app.test_client()
    factories.sign_in(page, world.users["a_staff"])
    monkeypatch.setattr(dashboard, "center_overview", cut_then(dashboard.center_overview))
    monkeypatch.setattr(centers_api, "list_centers", cut_then(centers_api.list_centers))

    assert_unavailable_page(page.get("/dashboard"))
    proxy.restore()
    assert_unavailable_json(api.get("/api/v1/centers"))
    proxy.restore()
    monkeypatch.undo()
    assert len(ok(api.get("/api/v1/centers"))["items"]) == 48


def test_a_commit_lost_to_an_outage_is_503_and_the_write_is_not_acknowledged(outage_app, proxy, world, owner_engine):
    app = outage_app

    @app.after_request
    def cut_before_the_commit(response):  # runs before the boundary's commit (hooks run in reverse)
        if "X-Test-Cut" in request.headers:
            proxy.cut()
        return response

    api = api_clients(app, world)("a_staff")
    lost = api.post("/api/v1/cases", json={"case_type": "consultation", "person": _person("未確定")},
                    headers={"X-Test-Cut": "1"})
    assert_unavailable_json(lost)
    proxy.restore()
    assert _persons_named(owner_engine, "未確定") == 0
    ok(api.post("/api/v1/cases", json={"case_type": "consultation", "person": _person("再送")}), 201)
    assert _persons_named(owner_engine, "再送") == 1


def _outage() -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


@pytest.mark.parametrize("failure, status", [(RuntimeError("山田太郎 secret"), 500), (_outage(), 503)])
def test_an_error_handler_that_fails_is_still_answered_in_the_contracts_shapes(make_app, monkeypatch, failure, status):
    """The handlers' own rendering fails (as error.html did when it needed the database): the
    answer of last resort is the contract's body or a Japanese page, with the request id."""
    app = make_app(**PRODUCTION_LIKE)

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(errors, "render_template", fail)
    monkeypatch.setattr(errors, "jsonify", fail)
    client = app.test_client()

    api = client.get("/api/v1/no-such-thing", headers={"X-Request-ID": REQUEST_ID})
    error = api_error(api, status, "unavailable" if status == 503 else "internal_error")
    assert api.headers["X-Request-ID"] == REQUEST_ID and "secret" not in api.get_data(as_text=True)

    page = client.get("/no-such-page", headers={"X-Request-ID": REQUEST_ID})
    body = page.get_data(as_text=True)
    assert page.status_code == status and page.mimetype == "text/html" and 'lang="ja"' in body
    assert (UNAVAILABLE_TITLE if status == 503 else "システムエラー") in body and REQUEST_ID in body
    assert "Internal Server Error" not in body and "secret" not in body
    assert page.headers["X-Request-ID"] == REQUEST_ID and page.headers["Cache-Control"] == "no-store"
    assert ("Retry-After" in page.headers) == ("Retry-After" in api.headers) == (status == 503)
    assert error["message"]


def test_an_after_request_hook_that_fails_still_answers_with_the_request_id(make_app):
    app = make_app(**PRODUCTION_LIKE)

    @app.after_request
    def boom(response):
        if "X-Test-Boom" in request.headers:
            raise RuntimeError("after_request failed")
        return response

    client = app.test_client()
    headers = {"X-Request-ID": REQUEST_ID, "X-Test-Boom": "1"}
    api = client.get("/api/v1/me", headers=headers)
    api_error(api, 500, "internal_error")
    assert api.headers["X-Request-ID"] == REQUEST_ID
    page = client.get("/healthz", headers=headers)
    assert page.status_code == 500 and "システムエラー" in page.get_data(as_text=True)
    assert page.headers["X-Request-ID"] == REQUEST_ID


@pytest.mark.parametrize("exc, outage", [
    (_outage(), True),
    (psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly"), True),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (sqlalchemy.exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"), True),
    (sqlalchemy.exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation("duplicate key")), False),
    (sqlalchemy.exc.OperationalError("UPDATE", {}, psycopg.errors.DeadlockDetected("deadlock detected")), False),
    (sqlalchemy.exc.OperationalError("SELECT", {}, psycopg.errors.QueryCanceled("statement timeout")), False),
    (RuntimeError("unrelated"), False),
])
def test_only_a_lost_or_refused_connection_counts_as_an_outage(exc, outage):
    assert errors.is_database_outage(exc) is outage


def test_an_error_raised_while_handling_an_outage_is_still_an_outage():
    try:
        try:
            raise _outage()
        except sqlalchemy.exc.OperationalError:
            raise sqlalchemy.exc.PendingRollbackError("Can't reconnect until invalid transaction is rolled back")
    except sqlalchemy.exc.PendingRollbackError as exc:
        assert errors.is_database_outage(exc)

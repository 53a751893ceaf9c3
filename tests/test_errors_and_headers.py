"""Errors never show a stack trace or personal values; production adds HSTS."""
from __future__ import annotations

import pytest
from flask import request

from tests import factories
from tests.conftest import BACKEND


def test_an_unexpected_error_is_a_plain_japanese_answer_without_its_message(make_app, world, monkeypatch, capsys):
    app = make_app(PROPAGATE_UNEXPECTED=False, WTF_CSRF_ENABLED=False)

    def boom(*args, **kwargs):
        raise RuntimeError("山田太郎 1950-01-02 stack detail")

    monkeypatch.setattr("teichaku.blueprints.api.centers.list_centers", boom)
    monkeypatch.setattr("teichaku.blueprints.pages.dashboard.center_overview", boom)
    token = factories.api_token(app.test_client(), world.users["a_staff"])
    api = app.test_client().get("/api/v1/centers", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "internal_error"
    c = app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    page = c.get("/dashboard")
    body = page.get_data(as_text=True)
    assert page.status_code == 500 and "システムエラー" in body
    for leak in ("山田太郎", "Traceback", "stack detail"):
        assert leak not in api.get_data(as_text=True) and leak not in body
    assert "山田太郎" not in capsys.readouterr().err  # the log names the exception type only


@pytest.mark.skipif(BACKEND != "postgres", reason="production refuses SQLite")
def test_production_sends_hsts_and_secure_cookies(make_app):
    app = make_app(TEICHAKU_ENV="production", SECRET_KEY="p" * 40, TWO_FACTOR_REQUIRED=True, SESSION_COOKIE_SECURE=True)
    response = app.test_client().get("/login")
    assert "max-age" in response.headers["Strict-Transport-Security"]
    assert "Secure" in response.headers.get("Set-Cookie", "Secure")


def test_an_error_after_the_view_is_logged_by_its_type_never_its_message(make_app, capsys, caplog):
    """An exception Flask handles itself (raised after the view: the boundary's commit, an
    after-request hook) is logged by Flask's ``log_exception``, whose default writes the message
    and the traceback: a constraint's message can carry personal values."""
    app = make_app(PROPAGATE_UNEXPECTED=False, PROPAGATE_EXCEPTIONS=False, TESTING=False)

    @app.after_request
    def boom(response):
        if "X-Test-Boom" in request.headers:
            raise RuntimeError("山田太郎 1950-01-02 stack detail")
        return response

    response = app.test_client().get("/healthz", headers={"X-Test-Boom": "1"})
    assert response.status_code == 500
    logged = capsys.readouterr().err + caplog.text
    assert "RuntimeError" in logged
    assert "山田太郎" not in logged and "stack detail" not in logged

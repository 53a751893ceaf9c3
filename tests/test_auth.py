"""Sign-in, sessions, throttling, CSRF, two-factor authentication and API tokens."""
from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import text

from teichaku.platform.models import utcnow
from tests import factories
from tests.conftest import BACKEND


@pytest.fixture(scope="module")
def nocsrf_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.fixture()
def c(nocsrf_app):
    return nocsrf_app.test_client()


def _session_cookie(client):
    cookie = client.get_cookie("teichaku_session")
    return cookie.value if cookie else None


def test_sign_in_lands_on_the_japanese_dashboard(c, world):
    response = factories.sign_in(c, world.users["a_staff"])
    assert response.status_code == 302 and response.headers["Location"].endswith("/dashboard")
    page = c.get("/dashboard").get_data(as_text=True)
    assert "ダッシュボード" in page and "東京都地域生活定着支援センター" in page


def test_wrong_password_and_unknown_email_get_the_same_message(c, world):
    wrong = c.post("/login", data={"email": world.users["a_staff"]["email"], "password": "not the password at all"})
    unknown = c.post("/login", data={"email": "nobody@example.jp", "password": "not the password at all"})
    assert wrong.status_code == unknown.status_code == 200
    msg = "メールアドレス、パスワードまたは確認コードが正しくありません。"
    assert msg in wrong.get_data(as_text=True) and msg in unknown.get_data(as_text=True)


def test_sign_in_starts_a_new_session(c, world):
    c.get("/login")
    before = _session_cookie(c)
    factories.sign_in(c, world.users["a_staff"])
    after = _session_cookie(c)
    assert before != after


def test_sign_out_ends_the_session_at_once_even_with_the_old_cookie(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    old = _session_cookie(c)
    assert c.post("/logout").status_code == 302
    replay = nocsrf_app.test_client()
    replay.set_cookie("teichaku_session", old)
    assert replay.get("/dashboard").status_code == 302  # back to sign-in


def test_disabling_an_account_ends_its_sessions_and_tokens(nocsrf_app, world):
    staff, admin = nocsrf_app.test_client(), nocsrf_app.test_client()
    factories.sign_in(staff, world.users["a_staff"])
    token = factories.api_token(nocsrf_app.test_client(), world.users["a_staff"])
    factories.sign_in(admin, world.users["a_admin"])
    assert admin.post(f"/center/users/{world.users['a_staff']['id']}/toggle").status_code == 302
    assert staff.get("/dashboard").status_code == 302
    assert nocsrf_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert factories.sign_in(nocsrf_app.test_client(), world.users["a_staff"]).status_code == 200  # refused


def test_deactivated_center_shuts_out_its_users_and_keeps_its_data(nocsrf_app, world, owner_engine):
    staff, platform = nocsrf_app.test_client(), nocsrf_app.test_client()
    factories.sign_in(staff, world.users["a_staff"])
    factories.sign_in(platform, world.users["platform_admin"])
    response = platform.post("/platform/centers/tokyo", data={"name": "東京都地域生活定着支援センター"})  # active unchecked
    assert response.status_code == 302
    assert staff.get("/dashboard").status_code == 302
    api = nocsrf_app.test_client().post("/api/v1/auth/token", json={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD})
    assert api.status_code == 401 and api.get_json()["error"]["code"] == "invalid_credentials"
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from cases c join centers x on x.id = c.center_id where x.code = 'tokyo'")).scalar() == 1


def test_password_change_ends_every_session(nocsrf_app, world):
    one, two = nocsrf_app.test_client(), nocsrf_app.test_client()
    factories.sign_in(one, world.users["a_staff"])
    factories.sign_in(two, world.users["a_staff"])
    response = one.post("/account/password", data={"current_password": factories.PASSWORD, "new_password": "a brand new long passphrase"})
    assert response.status_code == 302
    assert two.get("/dashboard").status_code == 302
    assert one.get("/dashboard").status_code == 302


def test_common_and_short_passwords_are_refused(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    for weak in ("short", "password1234", "qwertyuiop123", "aaaaaaaaaaaaaa"):
        response = c.post("/account/password", data={"current_password": factories.PASSWORD, "new_password": weak})
        assert response.status_code == 422, weak


def test_idle_session_expires(nocsrf_app, world, owner_engine):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    with owner_engine.begin() as conn:
        conn.execute(text("update user_sessions set last_seen_at = :t"), {"t": utcnow() - timedelta(minutes=31)})
    assert c.get("/dashboard").status_code == 302


def test_absolute_session_lifetime_expires(nocsrf_app, world, owner_engine):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    with owner_engine.begin() as conn:
        conn.execute(text("update user_sessions set created_at = :t"), {"t": utcnow() - timedelta(hours=12, minutes=1)})
    assert c.get("/dashboard").status_code == 302


def test_forms_without_a_csrf_token_are_refused(client, world):
    response = client.post("/login", data={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD})
    assert response.status_code == 400
    assert "リクエストが正しくありません" in response.get_data(as_text=True)


def test_forms_with_the_csrf_token_are_accepted(client, world):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", data={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD, "csrf_token": token})
    assert response.status_code == 302


def test_sign_in_is_throttled_per_account(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False, SIGNIN_LIMIT_PER_ACCOUNT="3 per minute", SIGNIN_LIMIT_PER_IP="100 per minute")
    c = app.test_client()
    for _ in range(3):
        assert c.post("/login", data={"email": world.users["a_staff"]["email"], "password": "wrong wrong wrong"}).status_code == 200
    blocked = c.post("/login", data={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD})
    assert blocked.status_code == 429
    assert "しばらく" in blocked.get_data(as_text=True)
    api = c.post("/api/v1/auth/token", json={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"
    # another account from the same address is not blocked by this account's failures
    assert factories.sign_in(c, world.users["b_staff"]).status_code == 302


def test_sign_in_is_throttled_per_ip(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False, SIGNIN_LIMIT_PER_ACCOUNT="100 per minute", SIGNIN_LIMIT_PER_IP="4 per minute")
    c = app.test_client()
    for i in range(4):
        c.post("/login", data={"email": f"guess{i}@example.jp", "password": "wrong wrong wrong"})
    assert factories.sign_in(c, world.users["a_staff"]).status_code == 429


def _enable_totp(app, user) -> str:
    from teichaku.platform.auth.models import User
    from teichaku.platform.auth.services import enable_totp, new_totp_secret
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import account_lookup

    secret = new_totp_secret()
    with app.app_context():
        with account_lookup():
            u = db.session.get(User, user["id"])
            codes = enable_totp(u, secret, pyotp.TOTP(secret).now())
        db.session.commit()
    return secret, codes


def test_totp_is_asked_after_the_password_and_checked(nocsrf_app, world, owner_engine):
    secret, _codes = _enable_totp(nocsrf_app, world.users["a_staff"])
    with owner_engine.begin() as conn:  # the enrolment code is spent; allow the current step again
        conn.execute(text("update users set totp_last_step = null"))
    c = nocsrf_app.test_client()
    first = factories.sign_in(c, world.users["a_staff"])
    assert first.headers["Location"].endswith("/login/otp")
    assert c.get("/dashboard").status_code == 302  # not signed in yet
    assert c.post("/login/otp", data={"otp": "000000"}).status_code == 200
    assert c.post("/login/otp", data={"otp": pyotp.TOTP(secret).now()}).status_code == 302
    assert c.get("/dashboard").status_code == 200


def test_a_totp_code_cannot_be_replayed(nocsrf_app, world, owner_engine):
    secret, _ = _enable_totp(nocsrf_app, world.users["a_staff"])
    with owner_engine.begin() as conn:
        conn.execute(text("update users set totp_last_step = null"))
    code = pyotp.TOTP(secret).now()
    user = world.users["a_staff"]
    ok = nocsrf_app.test_client().post("/api/v1/auth/token", json={"email": user["email"], "password": user["password"], "otp": code})
    again = nocsrf_app.test_client().post("/api/v1/auth/token", json={"email": user["email"], "password": user["password"], "otp": code})
    assert ok.status_code == 201 and again.status_code == 401


def test_a_recovery_code_works_once(nocsrf_app, world):
    _, codes = _enable_totp(nocsrf_app, world.users["a_staff"])
    user = world.users["a_staff"]
    body = {"email": user["email"], "password": user["password"], "otp": codes[0]}
    assert nocsrf_app.test_client().post("/api/v1/auth/token", json=body).status_code == 201
    assert nocsrf_app.test_client().post("/api/v1/auth/token", json=body).status_code == 401


def test_required_two_factor_blocks_tokens_and_pages_until_enrolled(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False, TWO_FACTOR_REQUIRED=True)
    user = world.users["a_staff"]
    response = app.test_client().post("/api/v1/auth/token", json={"email": user["email"], "password": user["password"]})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "otp_enrollment_required"
    c = app.test_client()
    factories.sign_in(c, user)
    assert c.get("/cases").headers["Location"].endswith("/account/two-factor")
    # roles that never see personal data are not forced
    assert app.test_client().post("/api/v1/auth/token", json={"email": world.users["ministry"]["email"], "password": factories.PASSWORD}).status_code == 201


def test_api_token_expires(nocsrf_app, world, owner_engine):
    token = factories.api_token(nocsrf_app.test_client(), world.users["a_staff"])
    c = nocsrf_app.test_client()
    assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with owner_engine.begin() as conn:
        conn.execute(text("update api_tokens set expires_at = :t"), {"t": utcnow() - timedelta(seconds=1)})
    response = c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthenticated"


def test_api_token_lives_twelve_hours_and_is_stored_hashed(nocsrf_app, world, owner_engine):
    response = nocsrf_app.test_client().post("/api/v1/auth/token", json={"email": world.users["a_staff"]["email"], "password": factories.PASSWORD})
    body = response.get_json()
    from datetime import datetime

    lifetime = datetime.fromisoformat(body["expires_at"]) - utcnow()
    assert timedelta(hours=11, minutes=59) < lifetime <= timedelta(hours=12)
    with owner_engine.connect() as conn:
        stored = conn.execute(text("select token_hash from api_tokens")).scalars().all()
    assert body["token"] not in stored and len(stored) == 1


def test_api_token_revocation(nocsrf_app, world):
    token = factories.api_token(nocsrf_app.test_client(), world.users["a_staff"])
    c = nocsrf_app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert c.delete("/api/v1/auth/token", headers=headers).status_code == 204
    assert c.get("/api/v1/me", headers=headers).status_code == 401


def test_api_ignores_session_cookies(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    assert c.get("/dashboard").status_code == 200
    assert c.get("/api/v1/me").status_code == 401


def test_bad_credentials_on_the_api_share_one_answer(nocsrf_app, world):
    c = nocsrf_app.test_client()
    a = c.post("/api/v1/auth/token", json={"email": world.users["a_staff"]["email"], "password": "wrong wrong wrong"})
    b = c.post("/api/v1/auth/token", json={"email": "nobody@example.jp", "password": "wrong wrong wrong"})
    assert a.status_code == b.status_code == 401
    assert a.get_json() == b.get_json()
    assert a.get_json()["error"]["code"] == "invalid_credentials"


@pytest.mark.parametrize("path", ["/login", "/dashboard", "/api/v1/me", "/api/v1/cases"])
def test_every_answer_is_no_store_with_security_headers(nocsrf_app, world, path):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_staff"])
    token = factories.api_token(nocsrf_app.test_client(), world.users["a_staff"])
    response = c.get(path, headers={"Authorization": f"Bearer {token}"} if path.startswith("/api") else {})
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"] and "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly_and_samesite(c, world):
    factories.sign_in(c, world.users["a_staff"])
    cookie = c.get_cookie("teichaku_session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_center_admin_manages_only_their_own_centers_accounts(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["a_admin"])
    page = c.get("/center/users").get_data(as_text=True)
    assert world.users["a_staff"]["email"] in page and world.users["b_staff"]["email"] not in page
    created = c.post("/center/users/new", data={"email": "new.staff@tokyo.example.jp", "display_name": "新人 職員", "role": "staff", "password": "a long enough passphrase"})
    assert created.status_code == 302
    staff = c.post("/center/users/new", data={"email": "evil@x.example.jp", "display_name": "x", "role": "association", "password": "a long enough passphrase"})
    assert staff.status_code == 422  # a center admin can't create national roles


def test_platform_admin_cannot_read_case_records(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["platform_admin"])
    assert c.get("/cases").status_code == 403
    assert c.get(f"/cases/{world.cases['a']['id']}").status_code == 403
    token = factories.api_token(nocsrf_app.test_client(), world.users["platform_admin"])
    assert nocsrf_app.test_client().get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 403


def test_platform_admin_adds_and_renames_a_center(nocsrf_app, world):
    c = nocsrf_app.test_client()
    factories.sign_in(c, world.users["platform_admin"])
    bad = c.post("/platform/centers/new", data={"code": "Bad Code", "name": "", "prefecture_code": "99", "prefecture_name": "x", "region": "関東"})
    assert bad.status_code == 422 and "01〜47" in bad.get_data(as_text=True)
    ok = c.post("/platform/centers/new", data={"code": "tokyo-2", "name": "東京都第二センター", "prefecture_code": "13", "prefecture_name": "東京都", "region": "関東"})
    assert ok.status_code == 302
    renamed = c.post("/platform/centers/tokyo-2", data={"name": "東京都地域生活定着支援センター（第2）", "active": "y"})
    assert renamed.status_code == 302
    assert "東京都地域生活定着支援センター（第2）" in c.get("/platform/centers").get_data(as_text=True)


@pytest.mark.skipif(BACKEND != "postgres", reason="uses the PostgreSQL test database")
def test_production_refuses_unsafe_settings(database):
    from teichaku.app import create_app
    from teichaku.platform.config import UnsafeConfiguration

    with pytest.raises(UnsafeConfiguration, match="SECRET_KEY"):
        create_app({"TEICHAKU_ENV": "production", "SECRET_KEY": "dev-insecure-secret-change-me", "TWO_FACTOR_REQUIRED": True})
    with pytest.raises(UnsafeConfiguration, match="SQLite"):
        create_app({"TEICHAKU_ENV": "production", "SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite:///x.db", "TWO_FACTOR_REQUIRED": True})
    with pytest.raises(UnsafeConfiguration, match="two-factor"):
        create_app({"TEICHAKU_ENV": "production", "SECRET_KEY": "s" * 40, "TWO_FACTOR_REQUIRED": False})
    with pytest.raises(UnsafeConfiguration, match="debug"):
        create_app({"TEICHAKU_ENV": "production", "SECRET_KEY": "s" * 40, "TWO_FACTOR_REQUIRED": True, "DEBUG": True})

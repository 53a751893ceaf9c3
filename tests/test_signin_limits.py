"""Sign-in stays available and its limits count per real account; ``next`` stays on this site
(issue #12: "Sign-in must stay available…" and the open redirect of "Smaller holes")."""
from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import text

from tests import factories

WRONG = "wrong wrong wrong"


@pytest.fixture(scope="module")
def strict_app(make_app):
    """The production limits on the account (5), a roomy per-IP budget so that it is the account
    bucket under test."""
    return make_app(WTF_CSRF_ENABLED=False, SIGNIN_LIMIT_PER_ACCOUNT="5 per 15 minutes",
                    SIGNIN_LIMIT_PER_IP="100 per 15 minutes")


def _enable_totp(app, user: dict, owner_engine) -> str:
    from teichaku.platform.auth.models import User
    from teichaku.platform.auth.services import enable_totp, new_totp_secret
    from teichaku.platform.extensions import db
    from teichaku.platform.tenancy import account_lookup

    secret = new_totp_secret()
    with app.app_context():
        with account_lookup():
            enable_totp(db.session.get(User, user["id"]), secret, pyotp.TOTP(secret).now())
        db.session.commit()
    with owner_engine.begin() as conn:  # the enrolment code is spent; allow the current step again
        conn.execute(text("update users set totp_last_step = null"))
    return secret


def _sign_in_pages_render(app) -> None:
    fresh = app.test_client()  # a different visitor: no cookie, no address typed
    assert fresh.get("/login").status_code == 200
    # /login/otp without a pending sign-in sends to /login; it must not be refused
    assert fresh.get("/login/otp").status_code == 302


def test_blank_address_token_failures_do_not_lock_anyone_out_of_the_sign_in_pages(strict_app, world):
    c = strict_app.test_client()
    for _ in range(6):
        answer = c.post("/api/v1/auth/token", json={"email": "  ", "password": WRONG})
        assert answer.status_code == 401
    _sign_in_pages_render(strict_app)
    assert c.get("/login").status_code == 200
    # nor out of signing in: the empty address was never one shared account bucket
    assert factories.sign_in(strict_app.test_client(), world.users["a_staff"]).status_code == 302


def test_junk_address_failures_spend_only_the_per_ip_budget(make_app, world):
    app = make_app(WTF_CSRF_ENABLED=False, SIGNIN_LIMIT_PER_ACCOUNT="2 per 15 minutes", SIGNIN_LIMIT_PER_IP="6 per 15 minutes")
    c = app.test_client()
    for junk in ("  ", "not-an-address", "@@", "  ", "x@", ""):
        if junk:
            assert c.post("/api/v1/auth/token", json={"email": junk, "password": WRONG}).status_code == 401
        else:
            assert c.post("/api/v1/auth/token", json={"email": "\u3000", "password": WRONG}).status_code == 401
    # six failures: past the account limit (2) had they shared a bucket, exactly the IP budget (6)
    assert c.get("/login").status_code == 200
    blocked = factories.sign_in(c, world.users["a_staff"])
    assert blocked.status_code == 429  # this address spent its own budget, and only this one
    other_ip = app.test_client()
    other_ip.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert factories.sign_in(other_ip, world.users["a_staff"]).status_code == 302


def test_five_otp_failures_do_not_lock_anyone_out_of_the_sign_in_pages(strict_app, world, owner_engine):
    user = world.users["a_staff"]
    secret = _enable_totp(strict_app, user, owner_engine)
    c = strict_app.test_client()
    assert factories.sign_in(c, user).headers["Location"].endswith("/login/otp")
    for _ in range(5):
        assert c.post("/login/otp", data={"otp": "000000"}).status_code == 200
    _sign_in_pages_render(strict_app)
    assert c.get("/login/otp").status_code == 200  # the step itself still renders
    # the failures were counted on the pending account: its next code is refused…
    assert c.post("/login/otp", data={"otp": pyotp.TOTP(secret).now()}).status_code == 429
    # …and so is its password on the API (one budget per account)…
    api = strict_app.test_client().post("/api/v1/auth/token", json={"email": user["email"], "password": user["password"]})
    assert api.status_code == 429 and api.get_json()["error"]["code"] == "rate_limited"
    # …while everybody else signs in
    assert factories.sign_in(strict_app.test_client(), world.users["b_staff"]).status_code == 302
    assert factories.sign_in(strict_app.test_client(), world.users["a_admin"]).status_code == 302


def _spellings(email: str) -> list[str]:
    local, domain = email.split("@")
    fullwidth = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in domain)
    return [
        email.upper(),
        f"{local}@{fullwidth}",                               # ｔｏｋｙｏ．ｅｘａｍｐｌｅ．ｊｐ
        f"{local}@{domain.replace('.', '。')}",               # ideographic full stops
        f"  {local.capitalize()}@{domain.upper()}  ",
        f"{local}@{fullwidth.upper()}",
        email,
    ]


def test_six_full_width_and_case_spellings_of_one_address_share_one_bucket(strict_app, world):
    user = world.users["a_staff"]
    spellings = _spellings(user["email"])
    c = strict_app.test_client()
    for spelling in spellings[:5]:
        assert c.post("/login", data={"email": spelling, "password": WRONG}).status_code == 200
    # the sixth attempt is refused, even with the right password, on the page and on the API
    assert c.post("/login", data={"email": spellings[5], "password": user["password"]}).status_code == 429
    api = strict_app.test_client().post("/api/v1/auth/token", json={"email": spellings[1], "password": user["password"]})
    assert api.status_code == 429
    assert c.get("/login").status_code == 200  # the page itself still renders
    assert factories.sign_in(strict_app.test_client(), world.users["b_staff"]).status_code == 302


def test_every_spelling_the_throttle_counts_reaches_the_same_account(strict_app, world):
    """The lookup and the throttle use one normalisation: each spelling signs in to the account."""
    user = world.users["a_staff"]
    for spelling in _spellings(user["email"]):
        answer = strict_app.test_client().post("/api/v1/auth/token", json={"email": spelling, "password": user["password"]})
        assert answer.status_code == 201, spelling


def test_an_exhausted_account_bucket_never_blocks_the_sign_in_page(strict_app, world):
    user = world.users["a_staff"]
    c = strict_app.test_client()
    for _ in range(5):
        c.post("/login", data={"email": user["email"], "password": WRONG})
    assert c.post("/login", data={"email": user["email"], "password": user["password"]}).status_code == 429
    assert c.get("/login").status_code == 200
    assert c.get("/login", query_string={"email": user["email"]}).status_code == 200


# --- open redirect after sign-in -------------------------------------------------------------

OFF_SITE = [
    "/\t/evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "/\n/evil.example", "/\r\n/evil.example", " //evil.example", "javascript:alert(1)",
    "/\u3000/evil.example", "/\u200b/evil.example", "http:/evil.example", "evil.example",
]


@pytest.fixture(scope="module")
def nocsrf_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


@pytest.mark.parametrize("target", OFF_SITE)
def test_next_with_a_tab_or_backslash_cannot_send_the_user_off_site_after_sign_in(nocsrf_app, world, target):
    c = nocsrf_app.test_client()
    user = world.users["a_staff"]
    answer = c.post("/login", query_string={"next": target}, data={"email": user["email"], "password": user["password"]})
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/dashboard", answer.headers["Location"]


def test_next_percent_09_from_the_issue_lands_on_the_dashboard(nocsrf_app, world):
    c = nocsrf_app.test_client()
    user = world.users["a_staff"]
    answer = c.post("/login?next=/%09/evil.example", data={"email": user["email"], "password": user["password"]})
    assert answer.headers["Location"] == "/dashboard"


def test_next_after_the_second_factor_and_the_language_switch_stays_on_site(nocsrf_app, world, owner_engine):
    app = nocsrf_app
    user = world.users["a_staff"]
    secret = _enable_totp(app, user, owner_engine)
    c = app.test_client()
    c.post("/login?next=/%09/evil.example", data={"email": user["email"], "password": user["password"]})
    answer = c.post("/login/otp", data={"otp": pyotp.TOTP(secret).now()})
    assert answer.headers["Location"] == "/dashboard"
    assert c.post("/locale", data={"locale": "en", "next": "/\t/evil.example"}).headers["Location"] == "/dashboard"
    assert c.post("/locale", data={"locale": "ja", "next": "/cases?page=2"}).headers["Location"] == "/cases?page=2"


def test_a_same_site_next_is_still_followed(nocsrf_app, world):
    c = nocsrf_app.test_client()
    user = world.users["a_staff"]
    answer = c.post("/login", query_string={"next": "/cases/pre-release?x=1"}, data={"email": user["email"], "password": user["password"]})
    assert answer.headers["Location"] == "/cases/pre-release?x=1"


def test_same_site_path_accepts_only_paths_on_this_site():
    from teichaku.platform.redirects import same_site_path

    for target in OFF_SITE + [None, "", 42, "/ok\x7f"]:
        assert same_site_path(target) is None, repr(target)
    for target in ("/", "/cases", "/case-studies?q=認知", "/a/b#c"):
        assert same_site_path(target) == target

"""Prefecture officials (都道府県担当者) belong to a prefecture, not a center (issue 12, separation of
duties).

The attack: a center admin could create ``prefecture`` accounts from its user form, so the
contractor minted the official who confirms its own figures, and on Hokkaido (hokkaido-1 and
hokkaido-2 share prefecture 01) one center's admin gained the other's exact figures.  Now the
account stores its prefecture and no center; only the operator creates it (the shell, or an
invitation from /platform/prefectures with a one-time link the operator never sees); no center
sees, manages, hands over or exports it; it sees and confirms every center of its prefecture and
nothing else.
"""
from __future__ import annotations

import io
import os
import re
import subprocess
import uuid
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from tests import factories
from tests.conftest import BACKEND, OWNER_ROLE, _create_roles_and_database, _drop_database
from tests.crossprocess import REPO_ROOT, VENV_BIN
from tests.smtp_server import LocalSMTPServer

FY = 2024
NEW_PASSWORD = "a prefecture official's own passphrase"


@pytest.fixture(scope="module")
def pref_app(make_app):
    """Rollups follow each commit in-process; a low threshold so a few cases make figures."""
    return make_app(REDIS_AVAILABLE=False, DISCLOSURE_THRESHOLD=3, WTF_CSRF_ENABLED=False)


def _browser(app, user: dict):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302, user["email"]
    return client


def _bearer(app, user: dict):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {factories.api_token(app.test_client(), user)}"
    return client


def _cases(app, center: str, n: int) -> None:
    from teichaku.tenants.cases.services import create_case

    with app.app_context():
        set_tenant(center_by_code(center).id)
        for _ in range(n):
            create_case({"case_type": "coordination", "requested_on": date(2024, 6, 3),
                         "person": factories.person_payload()})
            db.session.commit()


def _account(owner_engine, email: str):
    with owner_engine.connect() as conn:
        return conn.execute(text("select u.id, u.role, u.center_id, u.prefecture_code, u.active from users u"
                                 " where u.email = :e"), {"e": email}).one_or_none()


def _submission_status(owner_engine, center: str):
    with owner_engine.connect() as conn:
        return conn.execute(text("select s.status from aggregate_submissions s join centers c on c.id = s.center_id"
                                 " where c.code = :c and s.fiscal_year = :fy"), {"c": center, "fy": FY}).scalar()


def _owner_app(database):
    from teichaku.app import create_app

    return create_app({"TESTING": True, "DATABASE_URL": database["owner_url"]}, database_role="owner")


def _cli(database, *args):
    owner = _owner_app(database)
    result = owner.test_cli_runner().invoke(args=list(args))
    with owner.app_context():
        db.engine.dispose()
    return result


NEW_OFFICIAL = {"display_name": "道庁 担当", "email": "official@pref.hokkaido.example.jp", "password": "x" * 20}


# --- a center cannot mint one ------------------------------------------------------------------------

def test_a_center_admin_cannot_create_a_prefecture_account_on_the_user_page(pref_app, world, owner_engine):
    admin = _browser(pref_app, world.users["a_admin"])
    form = admin.get("/center/users/new").get_data(as_text=True)
    assert 'value="prefecture"' not in form  # the role is not offered
    response = admin.post("/center/users/new", data={**NEW_OFFICIAL, "role": "prefecture"})
    assert response.status_code == 422
    assert _account(owner_engine, NEW_OFFICIAL["email"]) is None


def test_no_door_inside_a_center_creates_a_prefecture_account(pref_app, world, owner_engine):
    """Whatever the door (this page, a future API, a job), a center's scope cannot create one:
    the account service refuses it, not just the form."""
    from teichaku.platform.auth.services import AccountError, create_center_account, create_user

    with pref_app.app_context():
        set_tenant(center_by_code("hokkaido-1").id)
        attempts = (
            lambda: create_center_account(email=NEW_OFFICIAL["email"], password=NEW_OFFICIAL["password"],
                                          role="prefecture"),
            lambda: create_user(email=NEW_OFFICIAL["email"], password=NEW_OFFICIAL["password"], role="prefecture",
                                center_code="hokkaido-1"),
            lambda: create_user(email=NEW_OFFICIAL["email"], password=NEW_OFFICIAL["password"], role="prefecture",
                                prefecture_code="01"),
        )
        for attempt in attempts:
            with pytest.raises(AccountError):
                attempt()
        for role in ("association", "ministry", "platform_admin"):
            with pytest.raises(AccountError):
                create_center_account(email=NEW_OFFICIAL["email"], password=NEW_OFFICIAL["password"], role=role)
        db.session.rollback()
    assert _account(owner_engine, NEW_OFFICIAL["email"]) is None


def test_no_api_route_lets_a_center_admin_create_a_prefecture_account(pref_app, world, owner_engine):
    """Every API route a center admin may write to, given an account-shaped body: no account."""
    from teichaku.platform.permissions import ENDPOINTS, can

    api = _bearer(pref_app, world.users["a_admin"])
    body = {**NEW_OFFICIAL, "role": "prefecture", "center": "tokyo", "center_code": "tokyo", "prefecture_code": "13"}
    tried = 0
    for rule in pref_app.url_map.iter_rules():
        methods = rule.methods & {"POST", "PUT", "PATCH"}
        if not rule.rule.startswith("/api/") or not methods or not can("center_admin", ENDPOINTS[rule.endpoint]):
            continue
        url = rule.rule
        for arg in rule.arguments:
            url = re.sub(rf"<(?:[a-z]+:)?{arg}>", str(uuid.uuid4()), url)
        for method in methods:
            assert api.open(url, method=method, json=body).status_code < 500, url
            tried += 1
    assert tried > 10
    assert _account(owner_engine, NEW_OFFICIAL["email"]) is None


def test_a_hokkaido_1_admin_cannot_mint_an_official_who_sees_hokkaido_2s_exact_figures(pref_app, world, owner_engine):
    _cases(pref_app, "hokkaido-2", 2)
    admin = factories.make_user(pref_app, "center_admin", "hokkaido-1")
    response = _browser(pref_app, admin).post("/center/users/new", data={**NEW_OFFICIAL, "role": "prefecture"})
    assert response.status_code == 422
    assert _account(owner_engine, NEW_OFFICIAL["email"]) is None
    rows = _bearer(pref_app, admin).get("/api/v1/aggregates/cases",
                                        query_string={"fiscal_year": FY, "by": "center"}).get_json()["rows"]
    assert [r for r in rows if r["center"] == "hokkaido-2"] == []  # not hokkaido-1's own: no row at all


# --- a center does not manage one -------------------------------------------------------------------

def test_a_center_admins_user_list_and_audit_page_do_not_show_the_prefecture_official(pref_app, world):
    admin = _browser(pref_app, world.users["a_admin"])
    official = world.users["a_prefecture"]  # made with --center tokyo: prefecture 13, no center
    for path in ("/center/users", "/center/audit"):
        page = admin.get(path)
        assert page.status_code == 200
        assert official["email"] not in page.get_data(as_text=True), path
    assert world.users["a_staff"]["email"] in admin.get("/center/users").get_data(as_text=True)


def test_a_center_admin_cannot_disable_the_prefecture_official(pref_app, world, owner_engine):
    official = world.users["a_prefecture"]
    admin = _browser(pref_app, world.users["a_admin"])
    assert admin.post(f"/center/users/{official['id']}/toggle").status_code == 404
    assert _account(owner_engine, official["email"]).active is True
    assert factories.sign_in(pref_app.test_client(), official).status_code == 302


def test_center_account_lookups_never_return_a_prefecture_official(pref_app, world):
    """The lookups every center-management door uses (list, edit, disable, a second-factor reset)."""
    from teichaku.platform.auth.services import get_center_user, users_of_current_center

    with pref_app.app_context():
        set_tenant(center_by_code("tokyo").id)
        assert get_center_user(world.users["a_prefecture"]["id"]) is None
        assert world.users["a_prefecture"]["id"] not in {u.id for u in users_of_current_center()}
        assert get_center_user(world.users["a_staff"]["id"]) is not None
        db.session.rollback()


# --- the shell: the contract's --center selects the prefecture ------------------------------------

def test_cli_users_create_role_prefecture_center_hokkaido_2_stores_prefecture_01(database, owner_engine):
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "users", "create", "--email",
                             "official@pref.hokkaido.example.jp", "--password", "a long enough passphrase",
                             "--role", "prefecture", "--center", "hokkaido-2"],
                            cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    account = _account(owner_engine, "official@pref.hokkaido.example.jp")
    assert str(account.id) == result.stdout.strip()
    assert (account.role, account.center_id, account.prefecture_code) == ("prefecture", None, "01")


# --- sees and confirms every center of its prefecture, and nothing else ---------------------------

def test_the_prefecture_official_of_01_sees_and_confirms_both_hokkaido_centers(pref_app, world, owner_engine, database):
    from teichaku.crosstenant.aggregates import reporting

    reporting.clear_cache()
    _cases(pref_app, "hokkaido-1", 1)
    _cases(pref_app, "hokkaido-2", 2)
    for code in ("hokkaido-1", "hokkaido-2"):
        admin = _browser(pref_app, factories.make_user(pref_app, "center_admin", code))
        assert admin.post("/aggregates/submit", data={"fiscal_year": FY}).status_code == 302
    official = factories.make_user(pref_app, "prefecture", "hokkaido-2")

    me = _bearer(pref_app, official).get("/api/v1/me").get_json()
    assert me["center"] is None and me["prefecture"] == {"code": "01", "name": "北海道"}
    rows = _bearer(pref_app, official).get("/api/v1/aggregates/cases", query_string={
        "fiscal_year": FY, "by": "center,case_type"}).get_json()["rows"]
    own = {r["center"]: r["count"] for r in rows if r["center"] is not None and r["case_type"] == "coordination"}
    assert own == {"hokkaido-1": 1, "hokkaido-2": 2}  # exact, below the threshold of 3

    browser = _browser(pref_app, official)
    page = browser.get("/aggregates/prefecture", query_string={"fiscal_year": FY}).get_data(as_text=True)
    assert 'id="center-hokkaido-1"' in page and 'id="center-hokkaido-2"' in page and "center-tokyo" not in page
    assert "北海道" in browser.get("/dashboard").get_data(as_text=True)  # the header names the prefecture
    for code in ("hokkaido-1", "hokkaido-2"):
        assert browser.get("/aggregates/report", query_string={"fiscal_year": FY, "center": code}).status_code == 200
        response = browser.post("/aggregates/confirm", data={"fiscal_year": FY, "center": code})
        assert response.status_code == 302, response.get_data(as_text=True)
        assert _submission_status(owner_engine, code) == "confirmed"

    with owner_engine.connect() as conn:  # each confirmation is in the confirmed center's own chain
        chains = conn.execute(text(
            "select c.code from audit_entries a join centers c on c.id = a.center_id"
            " where a.action = 'aggregates.submission.confirm' and a.actor_id = :u and a.actor_role = 'prefecture'"
            " order by c.code"), {"u": official["id"]}).scalars().all()
    assert chains == ["hokkaido-1", "hokkaido-2"]
    verified = _cli(database, "audit", "verify")
    assert verified.exit_code == 0 and "OK" in verified.output, verified.output


def test_a_prefecture_official_cannot_confirm_another_prefectures_center(pref_app, world, owner_engine):
    from teichaku.crosstenant.aggregates import reporting, submissions
    from teichaku.platform.auth.models import User
    from teichaku.platform.tenancy import account_lookup

    tokyo_admin = _browser(pref_app, world.users["a_admin"])
    assert tokyo_admin.post("/aggregates/submit", data={"fiscal_year": FY}).status_code == 302
    official = factories.make_user(pref_app, "prefecture", "hokkaido-1")
    browser = _browser(pref_app, official)
    assert browser.post("/aggregates/confirm", data={"fiscal_year": FY, "center": "tokyo"}).status_code == 404
    assert browser.get("/aggregates/report", query_string={"fiscal_year": FY, "center": "tokyo"}).status_code == 404
    assert browser.get("/aggregates/report", query_string={"fiscal_year": FY}).status_code == 404  # two centers: name one
    assert _submission_status(owner_engine, "tokyo") == "submitted"
    with pref_app.app_context():
        with account_lookup():
            user = db.session.scalar(db.select(User).where(User.id == official["id"]))
        with pytest.raises(reporting.NotVisible):
            submissions.confirm(user, FY, "tokyo")
        db.session.rollback()
    assert _submission_status(owner_engine, "tokyo") == "submitted"


# --- not in a center's handover or export -----------------------------------------------------------

def test_center_export_does_not_carry_the_prefecture_official(make_app, world):
    from teichaku.platform.handover.export import export_center
    from tests.test_center_handover import PASSPHRASE, _contents

    app = make_app()
    key = Ed25519PrivateKey.generate()
    out = io.BytesIO()
    with app.app_context():
        export_center("tokyo", out, passphrase=PASSPHRASE, signing_key=key)
    _manifest, tables, everything = _contents(out.getvalue(), key.public_key())
    exported = {row["email"] for row in tables["users"]}
    assert world.users["a_staff"]["email"] in exported and world.users["a_admin"]["email"] in exported
    assert world.users["a_prefecture"]["email"] not in everything


def test_a_center_handover_leaves_the_prefecture_official_alone(make_app, world, owner_engine):
    from teichaku.platform.handover.services import hand_over_center, operator_accounts

    app = make_app()
    with app.app_context():
        assert world.users["a_prefecture"]["id"] not in {u.id for u in operator_accounts(center_by_code("tokyo"))}
        hand_over_center(center_by_code("tokyo"), operator_name="社会福祉法人 新しい会",
                         new_admin_email="head@new-operator.example.jp")
        db.session.commit()
    assert _account(owner_engine, world.users["a_prefecture"]["email"]).active is True
    assert _account(owner_engine, world.users["a_admin"]["email"]).active is False


# --- only the operator creates and manages one ----------------------------------------------------------

def _invite(client, **overrides):
    form = {"display_name": "道庁 担当", "email": "official@pref.hokkaido.example.jp", "prefecture": "01"}
    return client.post("/platform/prefectures", data={**form, **overrides})


def _set_password(app, link: str) -> None:
    path = link.split("127.0.0.1:5000", 1)[1]
    token = path.split("token=", 1)[1]
    browser = app.test_client()
    assert browser.get(path).status_code == 200
    done = browser.post("/account/setup", data={"token": token, "password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302


def test_the_operator_invites_an_official_by_prefecture_name_and_the_link_goes_only_by_e_mail(make_app, world,
                                                                                          owner_engine):
    with LocalSMTPServer() as smtp:
        app = make_app(WTF_CSRF_ENABLED=False, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        operator = _browser(app, world.users["platform_admin"])
        page = operator.get("/platform/prefectures").get_data(as_text=True)
        assert '<option value="01">北海道</option>' in page and '<option value="13">東京都</option>' in page
        response = _invite(operator)
        assert response.status_code == 302
        shown = operator.get("/platform/prefectures").get_data(as_text=True)
        messages = smtp.parsed()
    assert "official@pref.hokkaido.example.jp" in shown and "北海道" in shown
    assert "token=" not in shown and "/account/setup" not in shown and "token=" not in response.get_data(as_text=True)
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["official@pref.hokkaido.example.jp"]]
    link = re.search(r"http://127\.0\.0\.1:5000/account/setup\?token=\S+", messages[0].get_content()).group(0)
    account = _account(owner_engine, "official@pref.hokkaido.example.jp")
    assert (account.role, account.center_id, account.prefecture_code) == ("prefecture", None, "01")
    invited = {"email": "official@pref.hokkaido.example.jp", "password": NEW_PASSWORD}
    assert factories.sign_in(app.test_client(), invited).status_code == 200  # nobody knows a password yet
    _set_password(app, link)
    assert factories.sign_in(app.test_client(), invited).status_code == 302
    with owner_engine.connect() as conn:
        invite = conn.execute(text("select center_id, details from audit_entries where action = 'user.invite'"
                                   " and object_id = :u"), {"u": str(account.id)}).one()
    from teichaku.platform.audit.models import PLATFORM_CHAIN

    assert invite.center_id == PLATFORM_CHAIN and invite.details == {"role": "prefecture", "prefecture": "01"}


def test_without_smtp_the_set_password_link_is_printed_only_on_the_shell(make_app, world, database):
    app = make_app(WTF_CSRF_ENABLED=False)
    operator = _browser(app, world.users["platform_admin"])
    response = operator.post("/platform/prefectures", data={"display_name": "都庁 担当",
                                                             "email": "official@pref.tokyo.example.jp",
                                                             "prefecture": "13"}, follow_redirects=True)
    assert response.status_code == 200
    assert "users prefecture-link" in response.get_data(as_text=True) and "token=" not in response.get_data(as_text=True)
    printed = _cli(database, "users", "prefecture-link", "official@pref.tokyo.example.jp")
    assert printed.exit_code == 0, printed.output
    assert len(printed.stdout.strip().splitlines()) == 1 and "/account/setup?token=" in printed.stdout
    _set_password(app, printed.stdout.strip())
    assert factories.sign_in(app.test_client(), {"email": "official@pref.tokyo.example.jp",
                                                 "password": NEW_PASSWORD}).status_code == 302
    for other in (world.users["a_admin"]["email"], "nobody@example.jp"):
        refused = _cli(database, "users", "prefecture-link", other)
        assert refused.exit_code == 2 and "token=" not in refused.output


def test_a_bad_invitation_is_a_422_with_a_japanese_message(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    operator = _browser(app, world.users["platform_admin"])
    for overrides in ({"prefecture": "48"}, {"prefecture": ""}, {"email": "not-an-address"},
                      {"email": world.users["b_staff"]["email"]}):
        response = _invite(operator, **overrides)
        assert response.status_code == 422, overrides
        assert "error" in response.get_data(as_text=True)
    assert _account(owner_engine, "official@pref.hokkaido.example.jp") is None


def test_a_center_admin_cannot_open_the_operators_prefecture_page(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    for key in ("a_admin", "a_prefecture", "association"):
        client = _browser(app, world.users[key])
        assert client.get("/platform/prefectures").status_code == 403
        assert _invite(client).status_code == 403
    assert _account(owner_engine, "official@pref.hokkaido.example.jp") is None


def test_the_operator_disables_a_prefecture_official_and_nothing_else(make_app, world, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    official = world.users["a_prefecture"]
    signed_in = _browser(app, official)
    operator = _browser(app, world.users["platform_admin"])
    assert operator.post(f"/platform/prefectures/{world.users['b_staff']['id']}/toggle").status_code == 404
    assert operator.post(f"/platform/prefectures/{official['id']}/toggle").status_code == 302
    assert _account(owner_engine, official["email"]).active is False
    assert signed_in.get("/dashboard").status_code == 302  # its session ended
    assert operator.post(f"/platform/prefectures/{official['id']}/toggle").status_code == 302
    assert factories.sign_in(app.test_client(), official).status_code == 302


def test_a_prefecture_official_changes_its_own_password(make_app, world):
    """Its account row is in no center's scope: its own changes still reach it."""
    app = make_app(WTF_CSRF_ENABLED=False)
    official = world.users["a_prefecture"]
    browser = _browser(app, official)
    response = browser.post("/account/password", data={"current_password": official["password"], "new_password": NEW_PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert factories.sign_in(app.test_client(), {**official, "password": NEW_PASSWORD}).status_code == 302


# --- the migration of existing accounts ---------------------------------------------------------------

@pytest.mark.skipif(BACKEND != "postgres", reason="a second PostgreSQL database of this run")
def test_the_migration_moves_existing_prefecture_accounts_from_their_center_to_its_prefecture(database):
    from flask_migrate import downgrade, upgrade

    from teichaku.app import create_app
    from teichaku.platform.centers import seed_centers

    name = f"teichaku_test_{uuid.uuid4().hex[:10]}"
    _create_roles_and_database(name)
    url = f"postgresql+psycopg://{OWNER_ROLE}@127.0.0.1:5432/{name}"
    engine = create_engine(url)
    try:
        owner = create_app({"TESTING": True, "DATABASE_URL": url}, database_role="owner")
        insert = text("insert into users (id, email, password_hash, role, center_id, display_name, display_name_kana,"
                      " active, two_factor_exempt, password_changed_at, email_notifications, created_at, version)"
                      " select :id, :email, 'x', :role, c.id, '', '', true, false, now(), true, now(), 1"
                      " from centers c where c.code = :center")
        with owner.app_context():
            upgrade(revision="h4rden0002")
            seed_centers()
            db.session.commit()
            db.engine.dispose()
        with engine.begin() as conn:
            for email, role, center in (("old-pref@example.jp", "prefecture", "hokkaido-2"),
                                        ("old-staff@example.jp", "staff", "hokkaido-2")):
                conn.execute(insert, {"id": uuid.uuid4(), "email": email, "role": role, "center": center})
        with owner.app_context():
            upgrade(revision="h4rden0003")
            db.engine.dispose()
        with engine.connect() as conn:
            rows = dict(conn.execute(text("select email, (role, center_id is null, prefecture_code)::text from users")).all())
        assert rows == {"old-pref@example.jp": "(prefecture,t,01)", "old-staff@example.jp": "(staff,f,)"}
        with engine.connect() as conn, pytest.raises(Exception, match="(?i)check"):
            conn.execute(text("update users set prefecture_code = '13' where email = 'old-staff@example.jp'"))
        with owner.app_context():
            downgrade(revision="h4rden0002")
            db.engine.dispose()
        with engine.connect() as conn:
            back = conn.execute(text("select c.code from users u join centers c on c.id = u.center_id"
                                     " where u.email = 'old-pref@example.jp'")).scalar()
        assert back == "hokkaido-1"  # the first center of its prefecture
    finally:
        engine.dispose()
        _drop_database(name)

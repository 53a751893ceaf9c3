"""Separation of duties (issue 12): the operator invites center admins (the association confirms),
every new center admin is announced, changing or removing a second factor takes the password
and a current code and ends the other sessions, lost second factors are reset by two people,
and production asks every role for a second factor."""
from __future__ import annotations

import pyotp
import pytest
from sqlalchemy import text

from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from tests import factories
from tests.smtp_server import LocalSMTPServer

INVITEE = "first-head@aomori.example.jp"
INVITEE_PASSWORD = "the invitee's own long passphrase"
OPERATOR_PASSWORD = "the operator's chosen passphrase"


@pytest.fixture()
def nocsrf_app(make_app):
    return make_app(WTF_CSRF_ENABLED=False)


def _client(app, user: dict):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302, user["email"]
    return client


def _invite(operator, code="aomori", email=INVITEE, follow_redirects=False, **extra):
    return operator.post(f"/platform/centers/{code}/invite-admin", follow_redirects=follow_redirects,
                         data={"email": email, "display_name": "初代 所長", **extra})


def _users_with_email(owner_engine, email):
    with owner_engine.connect() as conn:
        return conn.execute(text("select id, active, awaiting_confirmation from users where email = :e"),
                            {"e": email}).all()


def _link(app, email=INVITEE) -> str:
    """The link as the shell prints it (``users invitation-link``)."""
    result = app.test_cli_runner().invoke(args=["users", "invitation-link", email])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def _set_password(app, link: str, password=INVITEE_PASSWORD):
    path = link.split("127.0.0.1:5000", 1)[1]
    token = path.split("token=", 1)[1]
    browser = app.test_client()
    assert browser.get(path).status_code == 200
    done = browser.post("/account/setup", data={"token": token, "password": password, "password_again": password})
    assert done.status_code == 302
    return done


def _pending_ids(app) -> list:
    from teichaku.platform.auth import duties

    with app.app_context():
        return [(str(c.id), c.kind, c.user.email) for c in duties.pending_confirmations()]


def _decide(app, association: dict, confirmation_id: str, decision="confirm"):
    client = _client(app, association)
    return client.post(f"/association/confirmations/{confirmation_id}", data={"decision": decision})


def _token_status(app, email, password, otp=None):
    body = {"email": email, "password": password}
    if otp:
        body["otp"] = otp
    return app.test_client().post("/api/v1/auth/token", json=body)


def _outbox(owner_engine, kind):
    with owner_engine.connect() as conn:
        return conn.execute(text("select id, to_center_id, to_association, to_user_id from outbox_events where kind = :k"),
                            {"k": kind}).all()


def _deliver_all(app, owner_engine, kind):
    from teichaku.crosstenant.notifications.delivery import deliver

    for row in _outbox(owner_engine, kind):
        with app.app_context():
            assert deliver(row.id) in ("delivered", "already_delivered")


def _inbox(owner_engine, kind) -> set:
    with owner_engine.connect() as conn:
        return set(conn.execute(text("select recipient_user_id from notifications where kind = :k"), {"k": kind}).scalars())


# --- bullet 1: the operator invites, the association confirms -------------------------------------

def test_the_operator_cannot_create_a_usable_center_admin_with_a_password_of_its_choosing(nocsrf_app, world, owner_engine):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    # the old form is gone
    old = operator.post("/platform/centers/aomori/first-admin",
                        data={"email": INVITEE, "display_name": "x", "password": OPERATOR_PASSWORD})
    assert old.status_code in (404, 405)
    # the invitation takes no password: one slipped into the form is ignored
    assert _invite(operator, password=OPERATOR_PASSWORD).status_code == 302
    [(user_id, active, awaiting)] = _users_with_email(owner_engine, INVITEE)
    assert active and awaiting
    assert factories.sign_in(nocsrf_app.test_client(), {"email": INVITEE, "password": OPERATOR_PASSWORD}).status_code == 200
    assert _token_status(nocsrf_app, INVITEE, OPERATOR_PASSWORD).status_code == 401
    # even once the association confirms, the operator's password is not the account's
    [(confirmation_id, kind, _email)] = _pending_ids(nocsrf_app)
    assert kind == "center_admin"
    assert _decide(nocsrf_app, world.users["association"], confirmation_id).status_code == 302
    assert factories.sign_in(nocsrf_app.test_client(), {"email": INVITEE, "password": OPERATOR_PASSWORD}).status_code == 200


def test_the_invitation_link_never_appears_in_any_operator_page_html(nocsrf_app, world, make_app):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    answers = [operator.post("/platform/centers/aomori/invite-admin",
                             data={"email": INVITEE, "display_name": "初代 所長"}, follow_redirects=True)]
    answers.append(operator.post("/platform/centers/tokyo/handover", data={
        "operator_name": "社会福祉法人 新しい会", "admin_name": "新任 所長", "admin_email": "head@new.example.jp",
        "confirm": "y"}))
    # with SMTP on, the link goes to the invitee's mailbox and still not to the page
    with LocalSMTPServer() as smtp:
        mailing = make_app(WTF_CSRF_ENABLED=False, SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        mailing_operator = _client(mailing, world.users["platform_admin"])
        answers.append(mailing_operator.post("/platform/centers/akita/invite-admin",
                                             data={"email": "head@akita.example.jp", "display_name": "秋田 所長"},
                                             follow_redirects=True))
        mails = list(smtp.messages)
    for path in ("/platform/centers", "/platform/centers/aomori", "/platform/centers/tokyo",
                 "/platform/centers/akita", "/platform/centers/tokyo/handover", "/platform/second-factor-resets",
                 "/platform/deliveries", "/notifications", "/dashboard"):
        answers.append(operator.get(path, follow_redirects=True))
    for answer in answers:
        assert answer.status_code in (200, 422), answer.request.path
        html = answer.get_data(as_text=True)
        assert "/account/setup" not in html and "token=" not in html, answer.request.path
    assert "招待済み" in operator.get("/platform/centers/aomori").get_data(as_text=True)  # status only
    # the invitee got its link by e-mail, and nobody else got anything
    assert len(mails) == 1 and mails[0][1] == ["head@akita.example.jp"]
    import email
    import email.policy

    body = email.message_from_bytes(mails[0][2], policy=email.policy.default).get_body().get_content()
    assert "/account/setup?token=" in body


def test_an_invited_admin_cannot_sign_in_before_the_association_confirms(nocsrf_app, world, owner_engine):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    _invite(operator)
    _set_password(nocsrf_app, _link(nocsrf_app))
    invitee = {"email": INVITEE, "password": INVITEE_PASSWORD}
    assert factories.sign_in(nocsrf_app.test_client(), invitee).status_code == 200  # refused
    assert _token_status(nocsrf_app, INVITEE, INVITEE_PASSWORD).status_code == 401
    assert "パスワード設定済み" in operator.get("/platform/centers/aomori").get_data(as_text=True)
    [(confirmation_id, _kind, email)] = _pending_ids(nocsrf_app)
    assert email == INVITEE
    # the operator (or a center admin) cannot confirm its own invitation
    assert operator.post(f"/association/confirmations/{confirmation_id}", data={"decision": "confirm"}).status_code == 403
    assert _client(nocsrf_app, world.users["a_admin"]).post(
        f"/association/confirmations/{confirmation_id}", data={"decision": "confirm"}).status_code == 403
    assert factories.sign_in(nocsrf_app.test_client(), invitee).status_code == 200  # still refused
    page = _client(nocsrf_app, world.users["association"]).get("/association/confirmations").get_data(as_text=True)
    assert INVITEE in page
    assert _decide(nocsrf_app, world.users["association"], confirmation_id).status_code == 302
    signed_in = nocsrf_app.test_client()
    assert factories.sign_in(signed_in, invitee).status_code == 302
    assert signed_in.get("/center/users").status_code == 200  # aomori's center admin now
    assert _token_status(nocsrf_app, INVITEE, INVITEE_PASSWORD).status_code == 201
    assert "確認済み" in operator.get("/platform/centers/aomori").get_data(as_text=True)
    with owner_engine.connect() as conn:
        actions = set(conn.execute(text("select action from audit_entries")).scalars())
    assert {"user.invite", "user.confirmation_requested", "user.confirmation_confirmed", "user.password_setup"} <= actions


def test_a_refused_invitation_never_becomes_usable(nocsrf_app, world):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    _invite(operator)
    link = _link(nocsrf_app)
    [(confirmation_id, _kind, _email)] = _pending_ids(nocsrf_app)
    assert _decide(nocsrf_app, world.users["association"], confirmation_id, "refuse").status_code == 302
    assert nocsrf_app.test_client().get(link.split("127.0.0.1:5000", 1)[1]).status_code == 404
    assert _pending_ids(nocsrf_app) == []


def test_a_second_invitation_while_an_active_admin_exists_is_refused(nocsrf_app, world, owner_engine):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    answer = _invite(operator, code="tokyo", email="another-head@tokyo.example.jp", follow_redirects=True)
    assert "有効なセンター長" in answer.get_data(as_text=True)
    assert _users_with_email(owner_engine, "another-head@tokyo.example.jp") == []
    # nor a second one while the first waits
    _invite(operator)
    answer = _invite(operator, email="second@aomori.example.jp", follow_redirects=True)
    assert "確認待ちの招待" in answer.get_data(as_text=True)
    assert _users_with_email(owner_engine, "second@aomori.example.jp") == []


def test_an_expired_invitation_gives_no_link_and_may_be_replaced(nocsrf_app, world, owner_engine):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    _invite(operator)
    link = _link(nocsrf_app)
    with owner_engine.begin() as conn:
        conn.execute(text("update account_confirmations set expires_at = now() - interval '1 minute'"))
    assert nocsrf_app.test_client().get(link.split("127.0.0.1:5000", 1)[1]).status_code == 404
    assert nocsrf_app.test_cli_runner().invoke(args=["users", "invitation-link", INVITEE]).exit_code == 2
    assert "期限切れ" in operator.get("/platform/centers/aomori").get_data(as_text=True)
    _invite(operator, email="second@aomori.example.jp")
    assert [r.active for r in _users_with_email(owner_engine, INVITEE)] == [False]
    assert len(_users_with_email(owner_engine, "second@aomori.example.jp")) == 1


def test_a_new_center_admin_is_announced_to_the_association_and_the_existing_admins(nocsrf_app, world, owner_engine):
    admin = _client(nocsrf_app, world.users["a_admin"])
    created = admin.post("/center/users/new", data={"email": "deputy@tokyo.example.jp", "display_name": "副 所長",
                                                    "role": "center_admin", "password": "a deputy's long passphrase"})
    assert created.status_code == 302
    [event] = _outbox(owner_engine, "center_admin_added")
    assert event.to_center_id == center_by_code_id(nocsrf_app, "tokyo") and event.to_association
    _deliver_all(nocsrf_app, owner_engine, "center_admin_added")
    recipients = _inbox(owner_engine, "center_admin_added")
    assert world.users["a_admin"]["id"] in recipients and world.users["association"]["id"] in recipients
    assert world.users["a_staff"]["id"] not in recipients and world.users["b_admin"]["id"] not in recipients
    # an invitation from the operator and a web handover are announced too; the invitee, not yet
    # confirmed, receives nothing
    operator = _client(nocsrf_app, world.users["platform_admin"])
    _invite(operator)
    assert len(_outbox(owner_engine, "center_admin_added")) == 2
    _deliver_all(nocsrf_app, owner_engine, "center_admin_added")
    [(invitee_id, _active, _awaiting)] = _users_with_email(owner_engine, INVITEE)
    assert invitee_id not in _inbox(owner_engine, "center_admin_added")
    operator.post("/platform/centers/osaka/handover", data={
        "operator_name": "社会福祉法人 新しい会", "admin_name": "新任 所長", "admin_email": "head@osaka-new.example.jp",
        "confirm": "y"})
    assert len(_outbox(owner_engine, "center_admin_added")) == 3
    # the shell's users create announces its center admins too
    created = nocsrf_app.test_cli_runner().invoke(args=[
        "users", "create", "--email", "cli-head@fukuoka.example.jp", "--password", "a shell-made long passphrase",
        "--role", "center_admin", "--center", "fukuoka"])
    assert created.exit_code == 0, created.output
    assert len(_outbox(owner_engine, "center_admin_added")) == 4
    with owner_engine.connect() as conn:
        payload = conn.execute(text("select * from outbox_events where kind = 'center_admin_added'")).mappings().all()
    assert all("deputy" not in repr(dict(row)) and INVITEE not in repr(dict(row)) for row in payload)


def center_by_code_id(app, code):
    with app.app_context():
        return center_by_code(code).id


def test_the_shell_prints_the_invitation_link_alone_and_only_while_it_is_usable(nocsrf_app, world):
    operator = _client(nocsrf_app, world.users["platform_admin"])
    _invite(operator)
    result = nocsrf_app.test_cli_runner().invoke(args=["users", "invitation-link", INVITEE])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 1
    assert "/account/setup?token=" in result.stdout
    _set_password(nocsrf_app, result.stdout.strip())
    assert nocsrf_app.test_cli_runner().invoke(args=["users", "invitation-link", INVITEE]).exit_code == 2
    # an ordinary account has no invitation to print
    assert nocsrf_app.test_cli_runner().invoke(
        args=["users", "invitation-link", world.users["a_admin"]["email"]]).exit_code == 2


# --- bullet 3: the second factor ------------------------------------------------------------------

def _enable_totp(app, user: dict) -> str:
    from teichaku.platform.auth.models import User
    from teichaku.platform.auth.services import enable_totp, new_totp_secret
    from teichaku.platform.tenancy import account_lookup

    secret = new_totp_secret()
    with app.app_context():
        with account_lookup():
            u = db.session.get(User, user["id"])
            enable_totp(u, secret, pyotp.TOTP(secret).now())
        db.session.commit()
    return secret


def _forget_last_step(owner_engine):
    with owner_engine.begin() as conn:
        conn.execute(text("update users set totp_last_step = null"))


def _totp_state(owner_engine, user: dict):
    with owner_engine.connect() as conn:
        return conn.execute(text("select totp_secret, totp_enabled_at from users where id = :i"), {"i": user["id"]}).one()


def _sign_in_with_otp(app, user: dict, secret: str):
    client = app.test_client()
    assert factories.sign_in(client, user).status_code == 302
    assert client.post("/login/otp", data={"otp": pyotp.TOTP(secret).now()}).status_code == 302
    return client


def test_removing_two_factor_without_password_and_code_is_refused(nocsrf_app, world, owner_engine):
    user = world.users["ministry"]
    secret = _enable_totp(nocsrf_app, user)
    _forget_last_step(owner_engine)
    client = _sign_in_with_otp(nocsrf_app, user, secret)
    _forget_last_step(owner_engine)
    client.post("/account/two-factor/disable", data={"password": user["password"]})  # a borrowed session
    assert _totp_state(owner_engine, user).totp_enabled_at is not None
    client.post("/account/two-factor/disable", data={"password": user["password"], "current_code": "000000"})
    assert _totp_state(owner_engine, user).totp_enabled_at is not None
    client.post("/account/two-factor/disable", data={"password": "wrong password here", "current_code": pyotp.TOTP(secret).now()})
    assert _totp_state(owner_engine, user).totp_enabled_at is not None
    # replacing it with the attacker's authenticator needs the same proof
    client.get("/account/two-factor")
    with client.session_transaction() as s:
        attacker_secret = s["totp_setup_secret"]
    swap = client.post("/account/two-factor", data={"code": pyotp.TOTP(attacker_secret).now()})
    assert swap.status_code == 422 and _totp_state(owner_engine, user).totp_secret == secret
    _forget_last_step(owner_engine)
    client.post("/account/two-factor/disable", data={"password": user["password"], "current_code": pyotp.TOTP(secret).now()})
    assert _totp_state(owner_engine, user).totp_enabled_at is None


def test_other_sessions_end_when_the_second_factor_changes(nocsrf_app, world, owner_engine):
    user = world.users["a_staff"]
    secret = _enable_totp(nocsrf_app, user)
    _forget_last_step(owner_engine)
    here = _sign_in_with_otp(nocsrf_app, user, secret)
    _forget_last_step(owner_engine)
    elsewhere = _sign_in_with_otp(nocsrf_app, user, secret)
    _forget_last_step(owner_engine)
    token = _token_status(nocsrf_app, user["email"], user["password"], pyotp.TOTP(secret).now()).get_json()["token"]
    _forget_last_step(owner_engine)
    assert elsewhere.get("/cases").status_code == 200
    here.get("/account/two-factor")
    with here.session_transaction() as s:
        new_secret = s["totp_setup_secret"]
    changed = here.post("/account/two-factor", data={"password": user["password"], "current_code": pyotp.TOTP(secret).now(),
                                                     "code": pyotp.TOTP(new_secret).now()})
    assert changed.status_code == 200 and _totp_state(owner_engine, user).totp_secret == new_secret
    assert elsewhere.get("/cases").status_code == 302  # the other browser is signed out
    assert nocsrf_app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert here.get("/cases").status_code == 200  # the session that made the change stays


def test_a_staff_second_factor_is_reset_by_its_center_admin(nocsrf_app, world, owner_engine):
    staff = world.users["a_staff"]
    secret = _enable_totp(nocsrf_app, staff)
    _forget_last_step(owner_engine)
    staff_browser = _sign_in_with_otp(nocsrf_app, staff, secret)
    # another center's admin cannot, and a center admin cannot reset another center admin
    other = _client(nocsrf_app, world.users["b_admin"])
    assert other.post(f"/center/users/{staff['id']}/reset-second-factor").status_code == 404
    assert _totp_state(owner_engine, staff).totp_enabled_at is not None
    deputy = factories.make_user(nocsrf_app, "center_admin", "tokyo")
    _enable_totp(nocsrf_app, deputy)
    admin = _client(nocsrf_app, world.users["a_admin"])
    admin.post(f"/center/users/{deputy['id']}/reset-second-factor")
    assert _totp_state(owner_engine, deputy).totp_enabled_at is not None
    # its own center admin resets it: sessions end, audited, announced to the account
    assert admin.post(f"/center/users/{staff['id']}/reset-second-factor").status_code == 302
    assert _totp_state(owner_engine, staff).totp_enabled_at is None
    assert staff_browser.get("/cases").status_code == 302
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from audit_entries where action = 'user.totp_reset' and object_id = :i"),
                            {"i": str(staff["id"])}).scalar() == 1
        assert conn.execute(text("select count(*) from recovery_codes where user_id = :i"), {"i": staff["id"]}).scalar() == 0
    [event] = _outbox(owner_engine, "second_factor_reset")
    assert event.to_user_id == staff["id"] and event.to_center_id is None and not event.to_association
    _deliver_all(nocsrf_app, owner_engine, "second_factor_reset")
    assert _inbox(owner_engine, "second_factor_reset") == {staff["id"]}
    inbox = _client(nocsrf_app, staff).get("/notifications").get_data(as_text=True)  # no second factor now
    assert "二要素認証がリセットされました" in inbox


def test_an_operator_initiated_reset_needs_association_confirmation(nocsrf_app, world, owner_engine):
    head = world.users["b_admin"]
    _enable_totp(nocsrf_app, head)
    operator = _client(nocsrf_app, world.users["platform_admin"])
    asked = operator.post("/platform/second-factor-resets", data={"email": head["email"]})
    assert asked.status_code == 302
    assert _totp_state(owner_engine, head).totp_enabled_at is not None  # nothing changed yet
    [(confirmation_id, kind, email)] = _pending_ids(nocsrf_app)
    assert kind == "second_factor_reset" and email == head["email"]
    assert operator.post(f"/association/confirmations/{confirmation_id}", data={"decision": "confirm"}).status_code == 403
    assert _totp_state(owner_engine, head).totp_enabled_at is not None
    # the operator is sent to the center admin for staff
    _enable_totp(nocsrf_app, world.users["a_staff"])
    refused = operator.post("/platform/second-factor-resets", data={"email": world.users["a_staff"]["email"]})
    assert refused.status_code == 422 and len(_pending_ids(nocsrf_app)) == 1
    assert _decide(nocsrf_app, world.users["association"], confirmation_id).status_code == 302
    assert _totp_state(owner_engine, head).totp_enabled_at is None
    _deliver_all(nocsrf_app, owner_engine, "second_factor_reset")
    assert _inbox(owner_engine, "second_factor_reset") == {head["id"]}
    with owner_engine.connect() as conn:
        actions = list(conn.execute(text("select action from audit_entries where object_id = :i"),
                                    {"i": str(head["id"])}).scalars())
    assert {"user.totp_reset_requested", "user.confirmation_confirmed", "user.totp_reset"} <= set(actions)
    assert "二要素認証のリセット依頼" in operator.get("/platform/second-factor-resets").get_data(as_text=True)


def test_an_association_account_cannot_confirm_the_reset_of_its_own_second_factor(nocsrf_app, world):
    association = world.users["association"]
    _enable_totp(nocsrf_app, association)
    operator = _client(nocsrf_app, world.users["platform_admin"])
    assert operator.post("/platform/second-factor-resets", data={"email": association["email"]}).status_code == 302
    [(confirmation_id, _kind, _email)] = _pending_ids(nocsrf_app)
    from teichaku.platform.auth import duties
    from teichaku.platform.auth.models import User
    from teichaku.platform.tenancy import account_lookup

    with nocsrf_app.app_context():
        with account_lookup():
            actor = db.session.get(User, association["id"])
        with pytest.raises(duties.DutyError):
            duties.decide(duties.get_pending(confirmation_id), actor, confirm=True)


@pytest.mark.parametrize("key", ["association", "ministry", "platform_admin", "a_prefecture", "a_staff", "a_admin"])
def test_production_requires_two_factor_of_every_role(make_app, world, key):
    app = make_app(TEICHAKU_ENV="production", SECRET_KEY="p" * 40, TWO_FACTOR_REQUIRED=True,
                   SESSION_COOKIE_SECURE=False, WTF_CSRF_ENABLED=False)
    user = world.users[key]
    response = _token_status(app, user["email"], user["password"])
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "otp_enrollment_required"
    browser = app.test_client()
    factories.sign_in(browser, user)
    assert browser.get("/dashboard").headers["Location"].endswith("/account/two-factor")


def test_outside_production_the_contract_minimum_holds_and_more_roles_can_be_required(make_app, world):
    app = make_app(TWO_FACTOR_REQUIRED=True, TWO_FACTOR_ROLES="association,ministry")
    for key, status in (("a_staff", 403), ("association", 403), ("ministry", 403), ("platform_admin", 201)):
        assert _token_status(app, world.users[key]["email"], factories.PASSWORD).status_code == status, key


def test_a_demo_exemption_does_not_lift_two_factor_in_production(make_app, world):
    exempt = factories.make_user(make_app(), "association", two_factor_exempt=True)
    production = make_app(TEICHAKU_ENV="production", SECRET_KEY="p" * 40, TWO_FACTOR_REQUIRED=True, SESSION_COOKIE_SECURE=False)
    assert _token_status(production, exempt["email"], exempt["password"]).status_code == 403
    development = make_app(TWO_FACTOR_REQUIRED=True, TWO_FACTOR_ROLES="all")
    assert _token_status(development, exempt["email"], exempt["password"]).status_code == 201

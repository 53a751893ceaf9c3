"""The isolation sweep, generated from the app's URL map.

For every route, every method and every role (signed in at center A): the ids of center B's
objects, put in the path and in every ``*_id`` field of the body, get exactly the answer a random
id gets (404 where the role may use the route, 403 where it may not), never B's data, and change
nothing of B's.  A route missing from the permission table, or with a path parameter or body the
sweep does not know, fails here: new routes are covered the day they are added.

It runs on PostgreSQL (``make test``) and again on SQLite (``TEICHAKU_TEST_DB=sqlite``), where the
application layer alone must hold.
"""
from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from teichaku.platform.permissions import ENDPOINTS, PUBLIC, Role, can
from tests import factories
from tests.conftest import clean_all

pytestmark = [pytest.mark.sweep, pytest.mark.keep_data]

ROLES = [
    ("a_staff", Role.STAFF), ("a_admin", Role.CENTER_ADMIN), ("a_prefecture", Role.PREFECTURE),
    ("association", Role.ASSOCIATION), ("ministry", Role.MINISTRY), ("platform_admin", Role.PLATFORM_ADMIN),
]
SKIP_METHODS = {"HEAD", "OPTIONS"}

# Path parameters: how to get center B's value and a random one.  A tenant object's id must
# answer like a random id.  ``code`` names a center, which is reference data, not B's record.
# The same names serve for ``*_id`` fields in bodies.
TENANT_PARAMS = {
    "case_id": lambda w: str(w.cases["b"]["id"]),
    "person_id": lambda w: str(w.cases["b"]["person_id"]),
    "user_id": lambda w: str(w.users["b_staff"]["id"]),
    "actor_id": lambda w: str(w.users["b_staff"]["id"]),
    # the association's confirmations: B's account id in place of a confirmation id answers 404
    "confirmation_id": lambda w: str(w.users["b_admin"]["id"]),
}
REFERENCE_PARAMS = {"code": ("osaka", "no-such-center")}

# Bodies for routes that take one.  Fields ending in ``_id`` are replaced by B's / a random id.
API_BODIES = {
    "api_auth.token_create": None,  # sign-in: takes no ids (covered in test_auth)
    "api_auth.token_delete": None,
    "api_cases.create_case": {"case_type": "coordination", "person_id": "<person_id>"},
    "api_cases.update_case": {"release_date": "2027-05-01"},
}
PAGE_BODIES = {
    "auth.login": None, "auth.login_otp": None, "auth.logout": {}, "auth.password": {},
    "auth.totp_setup": {}, "auth.totp_disable": {}, "auth.set_locale": {"locale": "ja"},
    "center_admin.user_new": {}, "center_admin.user_toggle": {},
    "center_admin.audit_log": {"person_id": "<person_id>", "actor_id": "<actor_id>"},
    "platform_admin.center_new": {}, "platform_admin.center_edit": {"name": "x"},
    "platform_admin.center_invite_admin": {}, "platform_admin.second_factor_resets": {},
    "center_admin.user_reset_second_factor": {},
    "confirmations.decide": {"decision": "confirm"},
    "cases.new": {}, "cases.edit": {"family_name": "改ざん", "version": "1"},
}
# Ids that a national role may legitimately open across centers (the association sees every
# transfer's metadata): for that role they are compared like reference data, while the leak
# check (no person name, case number or staff e-mail of B) and the B-unchanged check still apply.
ROLE_REFERENCE_PARAMS: dict[str, set[str]] = {"association": set()}
for _extension in factories.world_extensions():
    ROLE_REFERENCE_PARAMS["association"].update(getattr(_extension, "ASSOCIATION_REFERENCE_PARAMS", ()))
    TENANT_PARAMS.update(getattr(_extension, "TENANT_PARAMS", {}))
    API_BODIES.update(getattr(_extension, "API_BODIES", {}))
    PAGE_BODIES.update(getattr(_extension, "PAGE_BODIES", {}))

# Routes that end the caller's own session: swept last for each role, in their own client.
SESSION_ENDING = {"auth.logout", "api_auth.token_delete"}


def _b_ids(world) -> dict[str, str]:
    return {name: value(world) for name, value in TENANT_PARAMS.items()}


@pytest.fixture(scope="module")
def sweep(make_app, owner_engine):
    app = make_app(WTF_CSRF_ENABLED=False)
    world = factories.build_world(app)
    clients = {}
    for key, _role in ROLES:
        client = app.test_client()
        response = factories.sign_in(client, world.users[key])
        assert response.status_code == 302, f"{key} could not sign in"
        clients[key] = (client, factories.api_token(app.test_client(), world.users[key]))
    snapshot = _snapshot_b(owner_engine, world)
    assert snapshot["cases"] and snapshot["persons"] and snapshot["users"], "the snapshot must see B's rows"
    yield app, world, clients
    clean_all(owner_engine)


def _rules(app):
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"), key=lambda r: r.rule)


def _route_cases():
    from teichaku.app import create_app  # noqa: F401 - the URL map is static per code
    import os

    # Build the URL map without a database: the rules are the same for every app instance.
    from flask import Flask

    from teichaku.blueprints import register
    from teichaku.app import _init_extensions  # noqa: F401

    cases = []
    app = _url_map_app()
    for rule in _rules(app):
        for method in sorted(rule.methods - SKIP_METHODS):
            cases.append(pytest.param(rule.endpoint, rule.rule, method, id=f"{rule.endpoint}-{method}"))
    return cases


def _url_map_app():
    import os

    from teichaku.app import create_app

    os.environ.setdefault("TEICHAKU_INSTANCE", "/tmp/teichaku-sweep-collect")
    return create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "DATABASE_URL": "sqlite://", "SKIP_ROLE_CHECK": True,
                       "REDIS_URL": "redis://127.0.0.1:6379/15"})


def test_every_route_is_in_the_permission_table():
    missing = [r.endpoint for r in _url_map_app().url_map.iter_rules() if r.endpoint not in ENDPOINTS]
    assert missing == [], f"routes with no entry in the permission table (deny by default): {missing}"


def _fill_path(rule, world, use_b: bool, role_key: str = "") -> tuple[str, bool, bool, list[str]]:
    """The URL for this rule; returns (url, has_tenant_param, has_reference_param, ids used)."""
    values, tenant, reference = {}, False, False
    for arg in rule.arguments:
        if arg in TENANT_PARAMS and arg in ROLE_REFERENCE_PARAMS.get(role_key, ()):
            values[arg] = TENANT_PARAMS[arg](world) if use_b else str(uuid.uuid4())
            reference = True
        elif arg in TENANT_PARAMS:
            values[arg] = TENANT_PARAMS[arg](world) if use_b else str(uuid.uuid4())
            tenant = True
        elif arg in REFERENCE_PARAMS:
            values[arg] = REFERENCE_PARAMS[arg][0 if use_b else 1]
            reference = True
        else:
            pytest.fail(f"{rule.endpoint}: path parameter <{arg}> unknown to the sweep: add it to TENANT_PARAMS "
                        "(tests/world_<module>.py) or REFERENCE_PARAMS")
    from flask import url_for

    return url_for(rule.endpoint, **values), tenant, reference, list(values.values())


def _body(endpoint: str, is_api: bool, world, use_b: bool):
    table = API_BODIES if is_api else PAGE_BODIES
    if endpoint not in table:
        pytest.fail(f"{endpoint}: the sweep has no body for this route: add it to {'API_BODIES' if is_api else 'PAGE_BODIES'}")
    body = table[endpoint]
    if body is None:
        return None, False
    ids = _b_ids(world)
    out, has_ids = {}, False
    for key, value in body.items():
        if key.endswith("_id"):
            if key not in ids:
                pytest.fail(f"{endpoint}: body field {key} unknown to the sweep: add it to TENANT_PARAMS")
            has_ids = True
            out[key] = ids[key] if use_b else str(uuid.uuid4())
        else:
            out[key] = value
    return out, has_ids


def _snapshot_b(owner_engine, world) -> dict:
    """Every row of center B in every table with a center_id (audit chains excepted)."""
    from teichaku.platform.extensions import db

    b_center = None
    with owner_engine.connect() as conn:
        b_center = uuid.UUID(str(conn.execute(text("select id from centers where code = 'osaka'")).scalar()))
        snap = {}
        for table in db.metadata.sorted_tables:
            if "center_id" not in table.c or table.name.startswith("audit_"):
                continue
            rows = conn.execute(table.select().where(table.c.center_id == b_center)).all()
            snap[table.name] = sorted(repr(tuple(r)) for r in rows)
    return snap


def _normalise(body: bytes, *ids: str) -> str:
    text_ = body.decode("utf-8", "replace")
    for value in ids:
        text_ = text_.replace(value, "<ID>")
    # per-request values that legitimately differ
    import re

    text_ = re.sub(r"問い合わせ番号: [0-9a-f]{32}", "問い合わせ番号: <RID>", text_)
    text_ = re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "<CSRF>", text_)
    text_ = re.sub(r'name="csrf_token" value="[^"]+"', "<CSRF>", text_)
    return text_


@pytest.mark.parametrize("endpoint,rule_text,method", _route_cases())
def test_center_b_ids_answer_like_random_ids(sweep, owner_engine, endpoint, rule_text, method):
    app, world, clients = sweep
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and r.rule == rule_text)
    capability = ENDPOINTS.get(endpoint)
    assert capability is not None, f"{endpoint} is not in the permission table"
    is_api = rule.rule.startswith("/api/")
    b_secrets = [world.cases["b"]["person_name"], world.cases["b"]["case_number"], world.users["b_staff"]["email"]]
    before = _snapshot_b(owner_engine, world)

    for key, role in ROLES:
        client, token = clients[key]
        if endpoint in SESSION_ENDING:
            client = app.test_client()
            factories.sign_in(client, world.users[key])
            token = factories.api_token(app.test_client(), world.users[key])
        answers = []
        for use_b in (True, False):
            with app.test_request_context():
                url, has_tenant_param, has_reference_param, path_ids = _fill_path(rule, world, use_b, key)
            body, body_has_ids = (None, False)
            if method in ("POST", "PATCH", "PUT", "DELETE"):
                body, body_has_ids = _body(endpoint, is_api, world, use_b)
            headers = {"Authorization": f"Bearer {token}"} if is_api else {}
            if is_api and method == "PATCH":
                headers["If-Match"] = '"1"'
            kwargs = {"headers": headers}
            if body is not None:
                kwargs["json" if is_api else "data"] = body
            if endpoint in SESSION_ENDING and not use_b:
                client = app.test_client()
                factories.sign_in(client, world.users[key])
                kwargs["headers"] = {**headers, "Authorization": f"Bearer {factories.api_token(app.test_client(), world.users[key])}"} if is_api else headers
            response = client.open(url, method=method, **kwargs)
            used = path_ids + [v for k, v in (body or {}).items() if k.endswith("_id")]
            answers.append((response, used, body))
            text_ = response.get_data(as_text=True)
            for secret in b_secrets:
                assert secret not in text_, f"{endpoint} {method} as {key}: center B's data leaked ({secret!r})"
            assert response.status_code < 500, f"{endpoint} {method} as {key}: {response.status_code}"

        (b_resp, b_used, _), (r_resp, r_used, _) = answers
        allowed = capability == PUBLIC or can(role.value, capability)
        uses_b_ids = has_tenant_param or body_has_ids
        if not allowed:
            assert b_resp.status_code == r_resp.status_code == 403, f"{endpoint} {method} as {key}: expected 403, got {b_resp.status_code}/{r_resp.status_code}"
        elif has_tenant_param:
            assert b_resp.status_code == r_resp.status_code == 404, f"{endpoint} {method} as {key}: expected 404, got {b_resp.status_code}/{r_resp.status_code}"
        if uses_b_ids and not (has_reference_param and allowed):
            assert b_resp.status_code == r_resp.status_code, f"{endpoint} {method} as {key}: {b_resp.status_code} vs random {r_resp.status_code}"
            assert _normalise(b_resp.data, *b_used) == _normalise(r_resp.data, *r_used), f"{endpoint} {method} as {key}: B's id answers differently from a random id"

    assert _snapshot_b(owner_engine, world) == before, f"{endpoint} {method} changed center B's data"

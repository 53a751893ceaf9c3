"""Test data made through the same services the app uses (never by raw inserts)."""
from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import date

from teichaku.platform.auth.services import create_user
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.cases.services import create_case

PASSWORD = "correct horse battery staple"
_seq = itertools.count(1)


def make_user(app, role: str, center: str | None = None, *, email: str | None = None,
              password: str = PASSWORD, **kwargs) -> dict:
    email = email or f"{role}-{next(_seq)}@{center or 'national'}.example.jp"
    with app.app_context():
        user = create_user(email=email, password=password, role=role, center_code=center, **kwargs)
        db.session.commit()
        return {"id": user.id, "email": email, "password": password, "role": role, "center": center}


def person_payload(**overrides) -> dict:
    n = next(_seq)
    data = {
        "family_name": f"試験{n}", "given_name": "太郎",
        "family_name_kana": "しけん", "given_name_kana": "たろう",
        "birth_date": date(1950, 4, 1), "sex": "male", "support_needs": ["elderly"],
    }
    data.update(overrides)
    return data


def make_case(app, center: str, **overrides) -> dict:
    with app.app_context():
        set_tenant(center_by_code(center).id)
        data = {"case_type": "coordination", "person": person_payload(), "release_date": date(2027, 3, 1)}
        data.update(overrides)
        case = create_case(data)
        db.session.commit()
        return {"id": case.id, "person_id": case.person_id, "case_number": case.case_number,
                "person_name": case.person.family_name, "center": center}


def api_token(client, user: dict) -> str:
    response = client.post("/api/v1/auth/token", json={"email": user["email"], "password": user["password"]})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def sign_in(client, user: dict):
    """Sign a test client in through the real form (CSRF off in the app used, or token fetched)."""
    return client.post("/login", data={"email": user["email"], "password": user["password"]})


@dataclass
class World:
    users: dict = field(default_factory=dict)
    cases: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)  # filled by tests/world_*.py extensions

    def user(self, key: str) -> dict:
        return self.users[key]


def build_world(app) -> World:
    w = World()
    for center, label in (("tokyo", "a"), ("osaka", "b"), ("fukuoka", "c")):
        w.users[f"{label}_staff"] = make_user(app, "staff", center)
        w.users[f"{label}_admin"] = make_user(app, "center_admin", center)
    w.cases["a"] = make_case(app, "tokyo")
    # B's values are distinctive so that a leak check can't match A's or C's by accident.
    w.cases["b"] = make_case(app, "osaka", requested_on=date(2025, 6, 2), person=person_payload(
        family_name="乙川", given_name="秘子", family_name_kana="おとがわ", given_name_kana="ひめこ",
        birth_date=date(1948, 2, 3), sex="female", support_needs=["elderly", "dementia"]))
    w.cases["c"] = make_case(app, "fukuoka")
    # the contract's --center selects the prefecture: Tokyo's official (13), tied to no center
    w.users["a_prefecture"] = make_user(app, "prefecture", "tokyo")
    w.users["association"] = make_user(app, "association")
    w.users["ministry"] = make_user(app, "ministry")
    w.users["platform_admin"] = make_user(app, "platform_admin")
    for extension in world_extensions():
        if hasattr(extension, "extend_world"):
            extension.extend_world(app, w)
    return w


def world_extensions() -> list:
    """Modules ``tests/world_<name>.py``: each module of the domain adds its objects to the
    world (``extend_world(app, world)``) and tells the isolation sweep about its routes
    (``TENANT_PARAMS``, ``API_BODIES``, ``PAGE_BODIES``)."""
    import importlib
    import pkgutil
    from pathlib import Path

    here = Path(__file__).parent
    return [importlib.import_module(f"tests.{m.name}") for m in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name)
            if m.name.startswith("world_")]


def random_id() -> str:
    return str(uuid.uuid4())

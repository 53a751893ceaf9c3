"""API clients and assertions on API answers, shared by every test module (one place for each).

``api_clients`` is what the ``api`` fixture (conftest) hands out: signed-in API clients by user key.
``ok`` returns the JSON body of an answer that must have the given status; ``api_error`` returns
the ``error`` object of a refusal, after checking it has the contract's shape
(``{"error": {"code", "message", "details"}}``, see ``../shared/api-contract.md``) and code.
"""
from __future__ import annotations

from typing import Any, Callable

from tests import factories

ERROR_KEYS = {"code", "message", "details"}


def api_clients(app, world) -> Callable[[str], Any]:
    """``as_user("a_staff")``: a test client of ``app`` with that world user's own bearer token,
    made on first use and the same client when asked again."""
    clients: dict[str, Any] = {}

    def as_user(key: str):
        if key not in clients:
            token = factories.api_token(app.test_client(), world.users[key])
            client = app.test_client()
            client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
            clients[key] = client
        return clients[key]
    return as_user


def ok(response, status: int = 200) -> Any:
    """The JSON body of ``response``, which must answer ``status`` (the body shows when not)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    return response.get_json()


def api_error(response, status: int, code: str) -> dict:
    """The ``error`` object of a refusal answering ``status`` with the contract's shape and ``code``."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["code"] == code, body
    return body["error"]

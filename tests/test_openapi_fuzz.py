"""The OpenAPI document is true for every answer (issue 14): schemathesis against a served app.

``/api/v1/openapi.json`` declares, for every operation, the statuses it can answer and the
contract's error body (``blueprints/api/errors.py``).  Here schemathesis (``st run``, a
subprocess) fuzzes a real gunicorn serving a seeded world, once per role with that role's
token, with the checks ``not_a_server_error``, ``response_schema_conformance`` and
``status_code_conformance``: zero failures.  ``/auth/token`` is left out of the per-role runs
(DELETE would revoke the run's own token; POST would spend the sign-in throttle) and fuzzed
once on its own, without a token, last.

Deterministic (a fixed seed, no example database) and bounded: each run stops at
``MAX_EXAMPLES`` cases per operation and is killed past ``BUDGET_SECONDS``.  The hooks
(``tests/openapi_fuzz_hooks.py``) feed real ids to path parameters, so success answers are
checked too; nothing outside the input ranges is filtered out.

Runs in ``make test`` on PostgreSQL (not in the SQLite sweep: no ``sweep`` marker); marked
``slow`` (crosses processes), so ``make test-fast`` skips it.
"""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests import factories
from tests.conftest import BACKEND, clean_all
from tests.crossprocess import REPO_ROOT, VENV_BIN, serve_gunicorn

# The schemathesis runs share one served world (module-scoped, cleaned at its end).
FUZZ = (pytest.mark.slow, pytest.mark.fuzz, pytest.mark.keep_data,
        pytest.mark.skipif(BACKEND != "postgres", reason="serves the PostgreSQL run's database"))

ST = VENV_BIN / "st"
SEED = 14
BUDGET_SECONDS = 90          # the bound per run
MAX_EXAMPLES = 6             # fuzzed cases per operation (after the examples and coverage phases)
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
OPENAPI = "/api/v1/openapi.json"

# One account per role (the contract's roles; the operator is the platform admin).  The center
# roles are center B's (osaka), whose records the world's modules name (TENANT_PARAMS), so the
# known ids below are the caller's own and reach the success answers.
ROLES = {
    "staff": "b_staff",
    "center_admin": "b_admin",
    "association": "association",
    "ministry": "ministry",
    "prefecture": "a_prefecture",
    "operator": "platform_admin",
}


def known_ids(world) -> dict[str, list[str]]:
    """Path parameter -> ids of center B's records (``tests/world_*.py`` TENANT_PARAMS)."""
    params = {"case_id": lambda w: str(w.cases["b"]["id"]), "person_id": lambda w: str(w.cases["b"]["person_id"])}
    for extension in factories.world_extensions():
        params.update(getattr(extension, "TENANT_PARAMS", {}))
    return {name: [value(world)] for name, value in params.items()}


@pytest.fixture(scope="module")
def served(app, owner_engine):
    """A gunicorn serving a seeded world, a token per role (issued in-process, so no sign-in
    attempt of the runs is spent), and the ids the hooks feed to path parameters."""
    world = factories.build_world(app)
    tokens = {role: factories.api_token(app.test_client(), world.users[key]) for role, key in ROLES.items()}
    try:
        with serve_gunicorn() as base_url:
            yield {"base_url": base_url, "tokens": tokens, "ids": known_ids(world)}
    finally:
        clean_all(owner_engine)


def schemathesis_run(served, tmp_path, *options: str) -> tuple[int, str, float]:
    """``st run`` against the served document; (exit status, output, seconds)."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SCHEMATHESIS_HOOKS": "tests.openapi_fuzz_hooks",
           "TEICHAKU_FUZZ_IDS": json.dumps(served["ids"]), "NO_COLOR": "1"}
    command = [
        str(ST), "run", served["base_url"] + OPENAPI,
        "--checks", CHECKS, "--phases", "examples,coverage,fuzzing",
        "--seed", str(SEED), "--max-examples", str(MAX_EXAMPLES), "--generation-database", "none",
        "--workers", "1", "--request-timeout", "20", "--suppress-health-check", "all", "--no-color",
        *options,
    ]
    started = time.monotonic()
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=BUDGET_SECONDS,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"schemathesis took longer than {BUDGET_SECONDS} s\n{output[-6000:]}", pytrace=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def fuzz(test):
    for mark in FUZZ:
        test = mark(test)
    return test


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, kind, name = node["$ref"].split("/")
        node = spec["components"][kind][name]
    return node


def test_the_document_declares_the_contract_error_body_for_every_error_answer(client):
    """No catch-all ``default``: each operation lists its error statuses, each with the contract's
    ``{"error": {"code", "message", "details"}}`` (flask-smorest's own error body is gone)."""
    spec = client.get(OPENAPI).get_json()
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and set(error["properties"]) == {"error"}
    detail = _resolve(spec, error["properties"]["error"])
    assert set(detail["properties"]) == set(detail["required"]) == {"code", "message", "details"}
    operations = [(path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
                  if method in ("get", "post", "put", "patch", "delete")]
    assert len(operations) > 80
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert "default" not in op["responses"], where
        errors = {int(code): _resolve(spec, answer) for code, answer in op["responses"].items() if int(code) >= 400}
        assert {401, 500, 503} <= set(errors), where
        for code, answer in errors.items():
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (where, code)
        assert "Retry-After" in errors[503]["headers"], where
        if "{" in path:
            assert 404 in errors, where
        if "requestBody" in op:
            assert {400, 422} <= set(errors), where
        if_match = [p for p in op.get("parameters", []) if p.get("in") == "header" and p["name"] == "If-Match"]
        if if_match and if_match[0]["required"]:
            assert 428 in errors, where
    token = spec["paths"]["/api/v1/auth/token"]["post"]
    assert token["security"] == [] and 429 in {int(c) for c in token["responses"]}
    assert any(p["name"] == "If-Match" and p["required"]
               for p in spec["paths"]["/api/v1/cases/{case_id}"]["patch"]["parameters"])


@fuzz
@pytest.mark.parametrize("role", ROLES)
def test_every_answer_of_every_operation_matches_the_document(served, role, tmp_path):
    status, output, _seconds = schemathesis_run(
        served, tmp_path, "--header", f"Authorization: Bearer {served['tokens'][role]}",
        "--exclude-path-regex", "/auth/token$")
    assert status == 0, output[-12000:]
    assert " passed" in output and "Test cases:" in output, output[-4000:]


@fuzz
def test_the_token_endpoint_answers_as_documented_without_a_token(served, tmp_path):
    """Last: its failed sign-ins spend the per-IP throttle (429 is one of its documented answers)."""
    status, output, _seconds = schemathesis_run(
        served, tmp_path, "--include-path-regex", "/auth/token$", "--include-method", "POST")
    assert status == 0, output[-12000:]

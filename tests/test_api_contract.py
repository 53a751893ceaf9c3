"""The public contract (shared/api-contract.md): auth, me, centers, cases, errors, OpenAPI."""
from __future__ import annotations

import os
import subprocess
import uuid

import pytest

from tests.crossprocess import REPO_ROOT, VENV_BIN
from tests.helpers import api_error

PERSON = {"family_name": "山田", "given_name": "太郎", "family_name_kana": "ヤマダ", "given_name_kana": "たろう",
          "birth_date": "1950-01-02", "sex": "male", "support_needs": ["elderly", "intellectual"]}


def test_me_describes_the_caller(api, world):
    body = api("a_staff").get("/api/v1/me").get_json()
    assert body == {"id": str(world.users["a_staff"]["id"]), "email": world.users["a_staff"]["email"], "role": "staff",
                    "center": {"code": "tokyo", "name": "東京都地域生活定着支援センター"}}
    assert api("ministry").get("/api/v1/me").get_json()["center"] is None


def test_centers_lists_all_48_in_one_page(api):
    body = api("ministry").get("/api/v1/centers").get_json()
    assert len(body["items"]) == 48 and body["next_cursor"] is None
    assert set(body["items"][0]) == {"code", "name", "prefecture_code", "prefecture_name", "region"}
    assert {"hokkaido-1", "hokkaido-2", "okinawa"} <= {c["code"] for c in body["items"]}


def test_create_case_with_a_new_person(api):
    response = api("a_staff").post("/api/v1/cases", json={"case_type": "coordination", "person": PERSON,
                                                          "release_date": "2027-01-10", "destination_prefecture_code": "27"})
    assert response.status_code == 201
    body = response.get_json()
    uuid.UUID(body["id"]) and uuid.UUID(body["person"]["id"])
    assert body["case_type"] == "coordination" and body["status"] and body["version"] == 1
    assert body["person"]["support_needs"] == ["elderly", "intellectual"]
    assert body["release_date"] == "2027-01-10" and body["destination_prefecture_code"] == "27"
    assert response.headers["ETag"] == '"1"'


def test_create_case_for_an_existing_person(api, world):
    response = api("a_staff").post("/api/v1/cases", json={"case_type": "follow_up", "person_id": str(world.cases["a"]["person_id"])})
    assert response.status_code == 201
    assert response.get_json()["person"]["id"] == str(world.cases["a"]["person_id"])


def test_another_centers_record_and_a_missing_one_answer_identically(api, world):
    other = api("a_staff").get(f"/api/v1/cases/{world.cases['b']['id']}")
    missing = api("a_staff").get(f"/api/v1/cases/{uuid.uuid4()}")
    assert other.get_json() == missing.get_json()
    api_error(other, 404, "not_found")
    via_person = api("a_staff").post("/api/v1/cases", json={"case_type": "follow_up", "person_id": str(world.cases["b"]["person_id"])})
    api_error(via_person, 404, "not_found")


def test_roles_without_case_access_get_403(api, world):
    for role in ("ministry", "association", "platform_admin", "a_prefecture"):
        api_error(api(role).get("/api/v1/cases"), 403, "forbidden")


def test_no_token_gets_401(app):
    api_error(app.test_client().get("/api/v1/cases"), 401, "unauthenticated")


@pytest.mark.parametrize("body,field", [
    ({"case_type": "coordination", "person": PERSON, "center_id": str(uuid.uuid4())}, "center_id"),
    ({"case_type": "coordination", "person": PERSON, "status": "closed"}, "status"),
    ({"case_type": "nonsense", "person": PERSON}, "case_type"),
    ({"case_type": "coordination", "person": {**PERSON, "birth_date": "1950-02-30"}}, "person.birth_date"),
    ({"case_type": "coordination", "person": {**PERSON, "sex": "x"}}, "person.sex"),
    ({"case_type": "coordination", "person": {**PERSON, "support_needs": ["flying"]}}, "person.support_needs.0"),
    ({"case_type": "coordination", "person": {**PERSON, "family_name_kana": "Yamada"}}, "person.family_name_kana"),
    ({"case_type": "coordination", "person": PERSON, "destination_prefecture_code": "48"}, "destination_prefecture_code"),
    ({"case_type": "coordination", "person": PERSON, "requested_on": "2026-05-01", "release_date": "2026-04-01"}, "release_date"),
])
def test_bad_input_gets_field_level_422_and_changes_nothing(api, body, field, owner_engine):
    from sqlalchemy import text

    with owner_engine.connect() as conn:
        before = conn.execute(text("select count(*) from cases")).scalar()
    error = api_error(api("a_staff").post("/api/v1/cases", json=body), 422, "validation_error")
    assert field in error["details"]["fields"], error
    with owner_engine.connect() as conn:
        assert conn.execute(text("select count(*) from cases")).scalar() == before


def test_malformed_json_gets_400(api):
    api_error(api("a_staff").post("/api/v1/cases", data="{not json", content_type="application/json"), 400, "bad_request")


def test_patch_needs_if_match_and_refuses_a_stale_version(api, world):
    client = api("a_staff")
    url = f"/api/v1/cases/{world.cases['a']['id']}"
    api_error(client.patch(url, json={"release_date": "2027-04-01"}), 428, "precondition_required")
    first = client.patch(url, headers={"If-Match": '"1"'}, json={"release_date": "2027-04-01"})
    assert first.status_code == 200 and first.get_json()["version"] == 2 and first.headers["ETag"] == '"2"'
    stale = client.patch(url, headers={"If-Match": '"1"'}, json={"release_date": "2027-05-01"})
    api_error(stale, 409, "version_conflict")
    assert client.get(url).get_json()["release_date"] == "2027-04-01"  # nothing overwritten


def test_patch_refuses_status_changes(api, world):
    response = api("a_staff").patch(f"/api/v1/cases/{world.cases['a']['id']}", headers={"If-Match": '"1"'}, json={"status": "closed"})
    assert "status" in api_error(response, 422, "validation_error")["details"]["fields"]


def test_list_pages_newest_first_with_a_cursor(api):
    client = api("a_staff")
    ids = [client.post("/api/v1/cases", json={"case_type": "consultation", "person": PERSON}).get_json()["id"] for _ in range(5)]
    page1 = client.get("/api/v1/cases?limit=2").get_json()
    assert [c["id"] for c in page1["items"]] == ids[::-1][:2]
    page2 = client.get(f"/api/v1/cases?limit=2&cursor={page1['next_cursor']}").get_json()
    assert [c["id"] for c in page2["items"]] == ids[::-1][2:4]
    last = client.get(f"/api/v1/cases?limit=200&cursor={page2['next_cursor']}").get_json()
    assert last["next_cursor"] is None and len(last["items"]) == 2  # one more + the world's case
    api_error(client.get("/api/v1/cases?limit=201"), 422, "validation_error")
    api_error(client.get("/api/v1/cases?cursor=garbage!"), 422, "validation_error")


def test_case_numbers_are_unique_per_center_not_globally(world):
    assert world.cases["a"]["case_number"] == world.cases["c"]["case_number"]


def test_openapi_document_is_generated_from_the_schemas(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    for path in ("/api/v1/auth/token", "/api/v1/me", "/api/v1/centers", "/api/v1/cases", "/api/v1/cases/{case_id}"):
        assert path in spec["paths"], path
    assert "CaseCreate" in spec["components"]["schemas"]


def test_unknown_route_and_method_use_the_error_format(app):
    api_error(app.test_client().get("/api/v1/nothing-here"), 404, "not_found")
    response = app.test_client().put("/api/v1/cases")
    api_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def _users_create(*args):
    return subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "users", "create", *args], cwd=REPO_ROOT,
                          env=os.environ.copy(), capture_output=True, text=True, timeout=120)


def test_cli_users_create_prints_the_id_alone(database):
    result = _users_create("--email", "cli.staff@tokyo.example.jp", "--password", "a long enough passphrase", "--role", "staff", "--center", "tokyo")
    assert result.returncode == 0, result.stderr
    uuid.UUID(result.stdout.strip())
    assert result.stdout.strip().count("\n") == 0


def test_cli_users_create_refuses_bad_input_with_a_clear_message(database, world):
    taken_elsewhere = _users_create("--email", world.users["b_staff"]["email"], "--password", "a long enough passphrase", "--role", "staff", "--center", "tokyo")
    taken_here = _users_create("--email", world.users["a_staff"]["email"], "--password", "a long enough passphrase", "--role", "staff", "--center", "tokyo")
    assert taken_elsewhere.returncode != 0 and taken_elsewhere.stderr == taken_here.stderr
    for args in (["--role", "king"], ["--role", "staff"], ["--role", "ministry", "--center", "tokyo"], ["--role", "staff", "--center", "atlantis"]):
        result = _users_create("--email", "x.y@example.jp", "--password", "a long enough passphrase", *args)
        assert result.returncode != 0 and "エラー" in result.stderr and result.stdout == ""
    short = _users_create("--email", "x.y@example.jp", "--password", "short", "--role", "ministry")
    assert short.returncode != 0 and "12" in short.stderr


def test_a_form_part_with_no_usable_name_gets_a_422_not_a_500(api, world):
    """Found by the OpenAPI fuzz (tests/test_openapi_fuzz.py): a multipart part whose name
    cannot be read is reported as a field error like any unknown field; the error body's keys
    are strings."""
    transfer_id = world.objects["transfers_b"]["group_id"]  # the one public id of the transfer
    raw = (b'--B\r\nContent-Disposition: form-data; name="\xc3\xaa\\"\r\n\r\n{}\r\n'
           b'--B\r\nContent-Disposition: form-data; name="body"\r\n\r\n\r\n--B--\r\n')  # and an empty body
    response = api("b_staff").post(f"/api/v1/transfers/{transfer_id}/messages", data=raw,
                                   content_type="multipart/form-data; boundary=B")
    error = api_error(response, 422, "validation_error")
    assert {"", "body"} <= set(error["details"]["fields"]), error


@pytest.mark.parametrize("if_match", ['"\u00b2"', '"1234567890123"', '"1 2"', "W/"])
def test_if_match_is_ascii_digits_of_a_32_bit_version_or_a_422(api, world, if_match):
    """The pattern the OpenAPI document declares for If-Match; '²' is a digit to str.isdigit."""
    response = api("a_staff").patch(f"/api/v1/cases/{world.cases['a']['id']}", headers={"If-Match": if_match},
                                    json={"release_date": "2027-04-01"})
    assert "If-Match" in api_error(response, 422, "validation_error")["details"]["fields"]

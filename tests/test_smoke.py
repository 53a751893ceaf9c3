def test_health_answers_with_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("status", "database", "redis")} == {"status": "ok", "database": "ok", "redis": "ok"}
    assert set(body) == {"status", "database", "redis", "periodic_jobs"}  # see tests/test_periodic_jobs.py


def test_world_builds_two_centers(world):
    assert world.cases["a"]["case_number"].startswith("CO-")

def test_health_answers_with_database_and_redis(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_world_builds_two_centers(world):
    assert world.cases["a"]["case_number"].startswith("CO-")

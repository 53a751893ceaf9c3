"""The package layout decision: everything lives under ``teichaku/`` (``teichaku.platform``,
``teichaku.tenants`` ...) and the repository root holds only ``wsgi.py`` as importable code, so
running from the root never shadows the standard library (``platform``, ``uuid`` ...) and the
documented entry points (gunicorn, ``flask --app wsgi``) work from there."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.crossprocess import REPO_ROOT, VENV_BIN, serve_gunicorn

PYTHON = VENV_BIN / "python"
FLASK = VENV_BIN / "flask"


def _run(args: list[str], timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True,
                          text=True, timeout=timeout)


def test_import_platform_from_repository_root_is_the_standard_library():
    # ``-c`` puts the current directory first on sys.path: a top-level ``platform`` package or
    # module in the repository would be imported instead of the standard library's.
    result = _run([str(PYTHON), "-c", "import platform, uuid; print(platform.system()); print(platform.__file__)"])
    assert result.returncode == 0, result.stderr
    system, module_file = result.stdout.strip().splitlines()
    assert system == platform.system()
    assert system in {"Linux", "Darwin", "Windows"}
    module_path = Path(module_file).resolve()
    assert not module_path.is_relative_to(REPO_ROOT.resolve()), module_path


@pytest.mark.slow
def test_gunicorn_serves_wsgi_app_from_repository_root(database):
    with serve_gunicorn() as base_url:
        with urllib.request.urlopen(base_url + "/healthz", timeout=5) as response:
            assert response.status == 200
            assert response.headers.get_content_type() == "application/json"
            body = json.loads(response.read())
        assert body["status"] == "ok"
        assert {key: body[key] for key in ("status", "database", "redis")} == {"status": "ok", "database": "ok", "redis": "ok"}
        assert "periodic_jobs" in body  # the scheduler's report (none runs here, so every job is "overdue")

        with urllib.request.urlopen(base_url + "/login", timeout=5) as response:
            assert response.status == 200
            assert response.headers.get_content_charset() == "utf-8"
            page = response.read().decode("utf-8")
        assert "ログイン" in page
        assert 'name="csrf_token"' in page  # the served app keeps CSRF on


def test_flask_cli_runs_from_repository_root(database):
    result = _run([str(FLASK), "--app", "wsgi", "centers", "list"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 48, result.stdout
    codes = {line.split("\t")[0] for line in lines}
    assert {"tokyo", "osaka", "fukuoka"} <= codes
    assert any("東京都地域生活定着支援センター" in line for line in lines)

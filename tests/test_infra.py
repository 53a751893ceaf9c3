"""The production configuration in infra/, checked with the real tools wherever they run here:
nginx (`nginx -t`, then serving in front of a real gunicorn), systemd (`systemd-analyze verify`
and `security`), gunicorn (`--check-config`, and the production refusals at process start),
Redis (redis.conf's persistence and eviction settings), Redis Sentinel (the app, RQ and the
throttle through it, and across a failover), and PostgreSQL streaming replication (a second
cluster replicating a temporary primary that has the app's schema, roles and RLS).

nginx, redis-sentinel and systemd's offline tools come from Debian
(infra/scripts/ensure-infra-tools.sh, run by `make test`).  Docker, systemd as PID 1 and Citus are not available here: see infra/README.md.
"""
from __future__ import annotations

import http.client
import json
import os
import pwd
import re
import shutil
import ssl
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from tests import factories
from tests.conftest import BACKEND, RUN_ID, rls_scope
from tests.crossprocess import free_port, serve_gunicorn

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infra"
VENV_BIN = REPO / ".venv" / "bin"
NGINX = "/usr/sbin/nginx"
INSTALL_DIR = "/opt/teichaku/app"  # where infra/README.md installs the code
postgres_only = pytest.mark.skipif(BACKEND != "postgres", reason="needs the PostgreSQL test database")


def _require(path: str) -> str:
    found = shutil.which(path) or (path if os.access(path, os.X_OK) else None)
    if not found:
        pytest.fail(f"{path} is missing: run infra/scripts/ensure-infra-tools.sh (make test does)", pytrace=False)
    return found


def _substitute(content: str, replacements: dict[str, str]) -> str:
    """Replace each text, failing if it is not there (so the test follows the config's shape)."""
    for old, new in replacements.items():
        assert old in content, f"expected {old!r} in the config"
        content = content.replace(old, new)
    return content


def _wait_for(check, timeout: float = 20.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
            if value:
                return value
        except (OSError, redis.RedisError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        time.sleep(interval)


@contextmanager
def _process(command: list, log: Path, **kwargs):
    """A server process of this test; stopped (TERM, then KILL) by its own pid at exit."""
    with open(log, "wb") as out:
        process = subprocess.Popen([str(c) for c in command], stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, **kwargs)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# --- nginx ---------------------------------------------------------------------------------------

def _nginx_prefix(directory: Path, upstream: str, https_port: int, http_port: int) -> Path:
    """infra/nginx/teichaku.conf with only the machine-specific parts swapped (ports, socket,
    certificate, paths) in a throwaway prefix with a self-signed certificate."""
    directory.chmod(0o755)
    for sub in ("logs", "tmp", "acme"):
        (directory / sub).mkdir(mode=0o777)
        (directory / sub).chmod(0o777)  # nginx's workers write request bodies here
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=teichaku.example.jp", "-keyout", directory / "key.pem",
                    "-out", directory / "cert.pem"], check=True, capture_output=True)
    site = _substitute((INFRA / "nginx" / "teichaku.conf").read_text(), {
        "server unix:/run/teichaku/gunicorn.sock": f"server {upstream}",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen [::]:80;\n": "",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;\n": "",
        "/etc/letsencrypt/live/teichaku.example.jp/fullchain.pem": str(directory / "cert.pem"),
        "/etc/letsencrypt/live/teichaku.example.jp/privkey.pem": str(directory / "key.pem"),
        f"alias {INSTALL_DIR}/teichaku/static/;": f"alias {REPO}/teichaku/static/;",
        "/var/log/nginx/": f"{directory}/logs/",
        "/var/www/letsencrypt": str(directory / "acme"),
    })
    (directory / "teichaku.conf").write_text(site)
    tmp = directory / "tmp"
    # As root, nginx's workers would become "nobody"; the throwaway prefix is this user's.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    (directory / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {directory}/nginx.pid;\nerror_log {directory}/logs/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n  include /etc/nginx/mime.types;\n"
        + "".join(f"  {kind}_temp_path {tmp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {directory}/teichaku.conf;\n}}\n")
    return directory / "nginx.conf"


def _https(port: int, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the throwaway self-signed certificate
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        conn.request(method, path, body=body, headers={"Host": "teichaku.example.jp", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def _announce_upload(port: int, length: int) -> int:
    """Send only the headers of a POST announcing ``length`` bytes; nginx answers at once."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    try:
        conn.putrequest("POST", "/records/upload", skip_host=True)
        for name, value in (("Host", "teichaku.example.jp"), ("Content-Type", "application/pdf"),
                            ("Content-Length", str(length))):
            conn.putheader(name, value)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def test_nginx_accepts_the_site_config():
    nginx = _require(NGINX)
    with tempfile.TemporaryDirectory(prefix="teichaku-nginx-") as d:
        conf = _nginx_prefix(Path(d), f"127.0.0.1:{free_port()}", free_port(), free_port())
        result = subprocess.run([nginx, "-t", "-p", d, "-c", conf], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def _audit_ip(owner_engine, action: str) -> str | None:
    with owner_engine.connect() as conn:
        return conn.execute(text("select ip from audit_entries where action = :a order by occurred_at desc, seq desc limit 1"),
                            {"a": action}).scalar()


@postgres_only
def test_nginx_serves_static_files_enforces_tls_and_the_upload_limit_and_proxies_the_client_address(
        world, owner_engine):
    """As deployed: gunicorn started the way systemd starts it (teichaku-web.socket hands it a
    listening unix socket), nginx proxying to that socket, the production gunicorn config."""
    nginx = _require(NGINX)
    activate = _require("systemd-socket-activate")
    https_port, http_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="teichaku-nginx-") as d:
        sock = Path(d) / "gunicorn.sock"
        conf = _nginx_prefix(Path(d), f"unix:{sock}", https_port, http_port)
        # Like systemd, systemd-socket-activate gives the service only the environment it is told
        # (EnvironmentFile= there, -E here): this run's database, Redis, and the proxy setting.
        env = {**os.environ, "TRUSTED_PROXY_HOPS": "1"}
        gunicorn = [activate, "-l", sock, *[f"-E{name}" for name in env],
                    VENV_BIN / "gunicorn", "--config", "infra/gunicorn.conf.py", "--workers", "1", "wsgi:app"]
        with _process(gunicorn, Path(d) / "gunicorn.log", cwd=REPO, env=env), \
                _process([nginx, "-p", d, "-c", conf, "-g", "daemon off;"], Path(d) / "stdout.log"):
            # The first request starts gunicorn (socket activation) and waits in the socket's backlog.
            _wait_for(lambda: _https(https_port, "GET", "/healthz")[0] == 200, timeout=60, interval=0.5,
                      what="/healthz through nginx")
            status, headers, _ = _https(https_port, "GET", "/healthz")
            assert status == 200
            hsts = [v for k, v in headers if k.lower() == "strict-transport-security"]
            assert hsts == ["max-age=63072000; includeSubDomains"]

            # Static files come from disk, not from the app (which stamps X-Request-ID on all it answers).
            status, headers, body = _https(https_port, "GET", "/static/teichaku.css")
            assert status == 200 and body == (REPO / "teichaku" / "static" / "teichaku.css").read_bytes()
            assert "x-request-id" not in {k.lower() for k, _ in headers}

            # Plain HTTP only redirects to HTTPS.
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            conn.request("GET", "/cases", headers={"Host": "teichaku.example.jp"})
            answer = conn.getresponse()
            assert answer.status == 301 and answer.getheader("Location") == "https://teichaku.example.jp/cases"
            conn.close()

            # A body over MAX_UPLOAD_MB (20) is refused by nginx on its announced length alone.
            assert _announce_upload(https_port, 21 * 1024 * 1024) == 413

            # The address nginx saw replaces a forged X-Forwarded-For, and reaches the audit log.
            user = world.user("a_staff")
            status, _, body = _https(https_port, "POST", "/api/v1/auth/token",
                                     body=json.dumps({"email": user["email"], "password": user["password"]}).encode(),
                                     headers={"Content-Type": "application/json", "X-Forwarded-For": "198.51.100.7"})
            assert status == 201, body
            token = json.loads(body)["token"]
            status, _, _ = _https(https_port, "GET", "/api/v1/cases",
                                  headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7"})
            assert status == 200
            # Over a unix socket the app sees no peer address: this one came from nginx's header.
            assert _audit_ip(owner_engine, "case.list") == "127.0.0.1"


@postgres_only
@pytest.mark.parametrize("hops, expected", [("1", "198.51.100.7"), ("", "127.0.0.1")])
def test_gunicorn_takes_the_client_address_from_the_proxy_only_when_told_to_trust_one(
        world, owner_engine, client, hops, expected):
    token = factories.api_token(client, world.user("a_staff"))
    with serve_gunicorn(extra_env={"TRUSTED_PROXY_HOPS": hops}) as base:
        port = int(base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/v1/cases", headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7"})
        assert conn.getresponse().status == 200
        conn.close()
    assert _audit_ip(owner_engine, "case.list") == expected


# --- systemd -------------------------------------------------------------------------------------

UNITS = ["teichaku.target", "teichaku-web.socket", "teichaku-web.service", "teichaku-scheduler.service",
         "teichaku-worker@.service"]


def _units_in(directory: Path) -> Path:
    """The units with the install directory swapped for this checkout, so the ExecStart binaries
    (.venv/bin/gunicorn, rq) exist and `verify` checks them."""
    for name in UNITS:
        content = (INFRA / "systemd" / name).read_text()
        assert name.endswith(".target") or name.endswith(".socket") or INSTALL_DIR in content
        (directory / name).write_text(content.replace(INSTALL_DIR, str(REPO)))
    return directory


def test_systemd_units_pass_systemd_analyze_verify():
    analyze = _require("systemd-analyze")
    with tempfile.TemporaryDirectory(prefix="teichaku-units-") as d:
        units = _units_in(Path(d))
        names = [n.replace("@.", "@1.") for n in UNITS]  # a template is verified through an instance
        result = subprocess.run([analyze, "verify", *[str(units / n) for n in names]],
                                capture_output=True, text=True, cwd=units)
        # Unknown keys and sections are only warnings: any line naming our units is a failure.
        complaints = [line for line in (result.stdout + result.stderr).splitlines() if "teichaku" in line]
        assert result.returncode == 0 and not complaints, result.stdout + result.stderr


@pytest.mark.parametrize("unit", ["teichaku-web.service", "teichaku-worker@.service", "teichaku-scheduler.service"])
def test_every_service_is_hardened_to_systemds_ok_exposure_level(unit):
    analyze = _require("systemd-analyze")
    with tempfile.TemporaryDirectory(prefix="teichaku-units-") as d:
        units = _units_in(Path(d))
        name = unit.replace("@.", "@1.")
        result = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(units / name)],
                                capture_output=True, text=True, cwd=units)
        match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
        assert match, result.stdout + result.stderr
        assert float(match.group(1)) <= 2.0, result.stdout  # systemd calls < 2.0 "OK"
        content = (INFRA / "systemd" / unit).read_text()
        for line in ("EnvironmentFile=/etc/teichaku/teichaku.env", "User=teichaku", "ProtectSystem=strict",
                     "NoNewPrivileges=yes", "PrivateTmp=yes"):
            assert f"\n{line}\n" in content, f"{unit} lacks {line}"


# --- gunicorn and the production refusals ----------------------------------------------------------

def _check_config(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "gunicorn"), "--check-config", "-c", "infra/gunicorn.conf.py", "wsgi:app"],
                          cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


@postgres_only
def test_gunicorn_check_config_loads_the_app_with_production_settings(database):
    result = _check_config({"TEICHAKU_ENV": "production", "SECRET_KEY": "p" * 48})
    assert result.returncode == 0, result.stdout + result.stderr


@postgres_only
@pytest.mark.parametrize("unsafe, named", [
    ({"SECRET_KEY": "dev-insecure-secret-change-me"}, "SECRET_KEY is the default"),
    ({"SECRET_KEY": "short-secret"}, "shorter than 32 characters"),
    ({"DATABASE_URL": "sqlite:////tmp/teichaku-refused.sqlite3"}, "SQLite"),
    ({"FLASK_DEBUG": "1"}, "debug is on"),
    ({"TWO_FACTOR_REQUIRED": "0"}, "two-factor authentication is off"),
])
def test_a_production_process_refuses_to_start_with_an_unsafe_environment(database, unsafe, named):
    result = _check_config({"TEICHAKU_ENV": "production", "SECRET_KEY": "p" * 48, **unsafe})
    assert result.returncode != 0
    assert "refusing to start in production" in result.stderr and named in result.stderr


# --- the environment file and the CLI wrapper -------------------------------------------------------

# Read by the code but not for operators: tests only (ignored in production).
NOT_FOR_PRODUCTION = {"TEICHAKU_TEST_DELIVERY_DELAY"}


def _variables_read(path: Path) -> set[str]:
    return set(re.findall(r'(?:environ\.get\(|environ\[|_int\(|_bool\()\s*"([A-Z][A-Z0-9_]+)"', path.read_text()))


def test_the_env_file_example_names_every_variable_the_app_and_gunicorn_read():
    example = (INFRA / "teichaku.env.example").read_text()
    named = set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", example, re.M))
    read = _variables_read(REPO / "teichaku" / "platform" / "config.py") | _variables_read(INFRA / "gunicorn.conf.py")
    assert {"SECRET_KEY", "DATABASE_URL", "TRUSTED_PROXY_HOPS"} <= read  # the pattern still finds them
    assert read - NOT_FOR_PRODUCTION - named == set(), "add these to infra/teichaku.env.example"
    required = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, re.M))
    assert {"TEICHAKU_ENV", "SECRET_KEY", "DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL", "UPLOAD_ROOT"} <= required


@postgres_only
def test_the_cli_wrapper_runs_flask_commands_with_only_the_env_files_settings(database, tmp_path):
    env_file = tmp_path / "teichaku.env"
    env_file.write_text(f'# as in production, a value with spaces quoted\nDATABASE_URL={database["owner_url"]}\n'
                        'SIGNIN_LIMIT_PER_IP="30 per 15 minutes"\n')
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(TEICHAKU_ENV_FILE=str(env_file), TEICHAKU_USER=pwd.getpwuid(os.geteuid()).pw_name)
    result = subprocess.run([str(INFRA / "scripts" / "teichaku-cli.sh"), "centers", "list"], cwd="/", env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 48 and any(line.startswith("tokyo\t13\t") for line in lines)


# --- Redis ---------------------------------------------------------------------------------------

def _redis_conf(directory: Path, port: int) -> Path:
    (directory / "secrets.conf").write_text("")
    conf = _substitute((INFRA / "redis" / "redis.conf").read_text(), {
        "include /etc/redis/teichaku-secrets.conf": f"include {directory / 'secrets.conf'}",
        "port 6379": f"port {port}",
        "dir /var/lib/redis": f"dir {directory}",
        "supervised systemd": "supervised no",
    })
    (directory / "redis.conf").write_text(conf)
    return directory / "redis.conf"


def test_redis_conf_persists_the_queue_with_aof_everysec_and_rdb_and_never_evicts():
    with tempfile.TemporaryDirectory(prefix="teichaku-redis-") as d:
        port = free_port()
        with _process(["redis-server", _redis_conf(Path(d), port)], Path(d) / "log"):
            r = redis.Redis(port=port)
            _wait_for(r.ping, what="redis-server on infra/redis/redis.conf")
            settings = {k: r.config_get(k)[k] for k in
                        ("appendonly", "appendfsync", "aof-use-rdb-preamble", "maxmemory-policy", "save", "maxmemory")}
            assert settings == {"appendonly": "yes", "appendfsync": "everysec", "aof-use-rdb-preamble": "yes",
                                "maxmemory-policy": "noeviction", "save": "3600 1 300 100 60 10000",
                                "maxmemory": str(256 * 1024 * 1024)}
            r.set("k", "v")
            r.save()
            assert (Path(d) / "dump.rdb").exists() and any((Path(d) / "appendonlydir").iterdir())


@pytest.fixture()
def sentinel_setup(tmp_path):
    """A master and a replica (redis-server on free ports) watched by a redis-sentinel running
    infra/redis/sentinel.conf with only its address and ports swapped."""
    _require("redis-sentinel")
    master, replica, sentinel_port = free_port(), free_port(), free_port()
    conf = _substitute((INFRA / "redis" / "sentinel.conf").read_text(), {
        "port 26379": f"port {sentinel_port}",
        "sentinel monitor teichaku 127.0.0.1 6379 2": f"sentinel monitor teichaku 127.0.0.1 {master} 1",
        "dir /var/lib/redis": f"dir {tmp_path}",
        "supervised systemd": "supervised no",
    })
    (tmp_path / "sentinel.conf").write_text(conf)
    plain = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)]
    with _process(["redis-server", "--port", master, *plain], tmp_path / "master.log"), \
            _process(["redis-server", "--port", replica, "--replicaof", "127.0.0.1", master, *plain, "--dbfilename", "replica.rdb"],
                     tmp_path / "replica.log"), \
            _process(["redis-sentinel", tmp_path / "sentinel.conf"], tmp_path / "sentinel.log"):
        watcher = redis.Redis(port=sentinel_port, decode_responses=True)
        _wait_for(lambda: watcher.sentinel_slaves("teichaku"), what="the sentinel to see the replica")
        yield {"master": master, "replica": replica, "sentinel": sentinel_port, "watcher": watcher}


@pytest.fixture()
def sentinel_app(sentinel_setup):
    """The app configured for Sentinel only (REDIS_URL's host is never used), throttling included."""
    from teichaku.app import create_app
    from teichaku.platform.extensions import db

    app = create_app({"TESTING": True, "REDIS_URL": "redis://sentinel/15", "REDIS_SENTINEL_MASTER": "teichaku",
                      "REDIS_SENTINELS": f"127.0.0.1:{sentinel_setup['sentinel']}"})
    yield app
    with app.app_context():
        db.engine.dispose()


def _queued(port: int, job_id: str) -> bool:
    return redis.Redis(port=port, db=15).exists(f"rq:job:{job_id}") == 1


@postgres_only
def test_sentinel_names_the_master_and_the_app_and_an_rq_worker_use_the_queue_through_it(sentinel_setup, sentinel_app):
    setup, app = sentinel_setup, sentinel_app
    assert setup["watcher"].sentinel_get_master_addr_by_name("teichaku") == ("127.0.0.1", setup["master"])
    from teichaku.workers import jobs
    from teichaku.platform.jobs import get_queue

    with app.app_context():
        job = get_queue(app).enqueue(jobs.purge_expired_sessions)
    assert _queued(setup["master"], job.id)
    env = {**os.environ, "REDIS_URL": "redis://sentinel/15", "REDIS_SENTINELS": f"127.0.0.1:{setup['sentinel']}",
           "REDIS_SENTINEL_MASTER": "teichaku"}
    worker = subprocess.run([str(VENV_BIN / "rq"), "worker", "--burst", "-c", "infra.rq_settings",
                             "-w", "teichaku.workers.worker.TeichakuWorker", "--serializer", "json", os.environ["RQ_QUEUE"]],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert worker.returncode == 0, worker.stderr
    status = redis.Redis(port=setup["master"], db=15).hget(f"rq:job:{job.id}", "status")
    assert status == b"finished", worker.stderr


@postgres_only
def test_the_app_follows_a_sentinel_failover_for_jobs_and_sign_in_throttling(sentinel_setup, sentinel_app, world):
    setup, app = sentinel_setup, sentinel_app
    from teichaku.workers import jobs
    from teichaku.platform.jobs import get_queue

    failed = app.test_client().post("/api/v1/auth/token", json={"email": world.user("a_staff")["email"], "password": "wrong password!"})
    assert failed.status_code == 401
    assert list(redis.Redis(port=setup["master"], db=15).scan_iter(match=f"*{RUN_ID}*"))  # the failure counted there

    setup["watcher"].execute_command("SENTINEL", "FAILOVER", "teichaku")
    _wait_for(lambda: setup["watcher"].sentinel_get_master_addr_by_name("teichaku")[1] == setup["replica"],
              what="the sentinel to promote the replica")
    _wait_for(lambda: redis.Redis(port=setup["replica"]).info("replication")["role"] == "master",
              what="the replica to become master")
    _wait_for(lambda: redis.Redis(port=setup["master"]).info("replication")["role"] == "slave",
              what="the old master to be turned into a replica")
    # The app's open connection to the old master fails once (READONLY): the enqueue after a
    # commit would log it and the outbox sweep deliver later; the next connection goes to the new master.
    with app.app_context():
        job = _wait_for(lambda: get_queue(app).enqueue(jobs.purge_expired_sessions), what="an enqueue after failover")
    assert _queued(setup["replica"], job.id)


# --- PostgreSQL streaming replica ------------------------------------------------------------------

def _pg_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        pytest.fail("PostgreSQL server binaries not found under /usr/lib/postgresql", pytrace=False)
    return versions[-1].parent


def _as_postgres(command: list, **kwargs) -> subprocess.CompletedProcess:
    """initdb and the server refuse to run as root: then run them as the postgres user."""
    command = [str(c) for c in command]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture()
def replicated_cluster():
    """A temporary primary cluster and a streaming replica of it (pg_basebackup -R), on free ports."""
    bindir = _pg_bin()
    base = Path(tempfile.mkdtemp(prefix="teichaku-replica-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    primary, replica = base / "primary", base / "replica"
    ports = {"primary": free_port(), "replica": free_port()}
    started = []
    try:
        result = _as_postgres([bindir / "initdb", "-D", primary, "-U", "postgres", "--auth=trust",
                               "-E", "UTF8", "--locale=C.UTF-8"])
        assert result.returncode == 0, result.stderr
        options = f"-p {ports['primary']} -k {base} -c listen_addresses=127.0.0.1"
        result = _as_postgres([bindir / "pg_ctl", "-D", primary, "-l", base / "primary.log", "-o", options, "-w", "start"])
        assert result.returncode == 0, result.stderr + (base / "primary.log").read_text()
        started.append(primary)
        result = _as_postgres([bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", ports["primary"], "-U", "postgres",
                               "-D", replica, "-R", "-X", "stream", "--checkpoint=fast"])
        assert result.returncode == 0, result.stderr
        options = f"-p {ports['replica']} -k {base} -c listen_addresses=127.0.0.1"
        result = _as_postgres([bindir / "pg_ctl", "-D", replica, "-l", base / "replica.log", "-o", options, "-w", "start"])
        assert result.returncode == 0, result.stderr + (base / "replica.log").read_text()
        started.append(replica)
        yield ports
    finally:
        for datadir in started:
            _as_postgres([bindir / "pg_ctl", "-D", datadir, "-m", "immediate", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


@postgres_only
def test_a_streaming_replica_serves_the_app_schema_read_only_with_row_level_security(replicated_cluster):
    primary, replica = replicated_cluster["primary"], replicated_cluster["replica"]
    # roles.sql on a fresh cluster, then the migrations and the centers as the owner: an install.
    result = subprocess.run(["psql", f"postgresql://postgres@127.0.0.1:{primary}/postgres", "-X", "-q",
                             "-v", "ON_ERROR_STOP=1", "-f", str(INFRA / "postgres" / "roles.sql")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    owner_url = f"postgresql+psycopg://teichaku_owner@127.0.0.1:{primary}/teichaku"
    env = {**os.environ, "DATABASE_URL": owner_url}
    for command in (["db", "upgrade"], ["centers", "seed"]):
        result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", *command], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=180)
        assert result.returncode == 0, result.stderr

    from teichaku.app import create_app
    from teichaku.platform.extensions import db

    app = create_app({"TESTING": True, "DATABASE_URL": owner_url})  # the application role on the primary
    case = factories.make_case(app, "tokyo")
    with app.app_context():
        db.engine.dispose()

    app_on_replica = create_engine(f"postgresql+psycopg://teichaku_app@127.0.0.1:{replica}/teichaku")
    try:
        with app_on_replica.connect() as conn:
            assert conn.execute(text("select pg_is_in_recovery()")).scalar() is True
            tokyo = conn.execute(text("select id from centers where code = 'tokyo'")).scalar()
            osaka = conn.execute(text("select id from centers where code = 'osaka'")).scalar()
            conn.rollback()  # each check below runs in its own transaction, as the app's do

            def visible_as(center_id):
                with conn.begin():
                    rls_scope(conn, tenant=center_id)
                    return conn.execute(text("select count(*) from cases where id = :i"), {"i": case["id"]}).scalar()

            # Streamed over within seconds; the replica enforces the same policies as the primary.
            _wait_for(lambda: visible_as(tokyo) == 1, what="the case to reach the replica")
            assert visible_as(osaka) == 0
    finally:
        app_on_replica.dispose()
    owner_on_replica = create_engine(f"postgresql+psycopg://teichaku_owner@127.0.0.1:{replica}/teichaku")
    try:
        with pytest.raises(Exception, match="read-only transaction"), owner_on_replica.begin() as conn:
            conn.execute(text("delete from centers"))
        _the_app_reads_its_reports_from_the_replica(owner_url, replica, owner_on_replica)
    finally:
        owner_on_replica.dispose()


def _the_app_reads_its_reports_from_the_replica(owner_url: str, replica_port: int, owner_on_replica) -> None:
    """REPORTING_DATABASE_URL set to the replica: the national figures come from there (its
    connections carry application_name teichaku-reporting) and equal the primary's."""
    from teichaku.crosstenant.aggregates import figures
    from teichaku.crosstenant.aggregates.jobs import rebuild_rollups
    from teichaku.platform import reporting_reads
    from teichaku.app import create_app
    from teichaku.platform.extensions import db
    from teichaku.platform.i18n import today_jst
    from teichaku.platform.i18n import fiscal_year_of

    year = fiscal_year_of(today_jst())
    primary_only = create_app({"TESTING": True, "DATABASE_URL": owner_url})
    with primary_only.app_context():
        rebuild_rollups(triggered_by="cli")
        expected = figures.headlines(year)
        db.session.commit()
        db.engine.dispose()
    assert expected["co_requests"] >= 1
    replica_url = f"postgresql+psycopg://teichaku_app@127.0.0.1:{replica_port}/teichaku"
    reporting = create_app({"TESTING": True, "DATABASE_URL": owner_url, "REPORTING_DATABASE_URL": replica_url})
    try:
        with reporting.app_context():
            _wait_for(lambda: figures.headlines(year) == expected, what="the rollups to reach the replica")
            assert reporting_reads.replica_in_use()
            with owner_on_replica.connect() as conn:
                names = conn.execute(text("select application_name from pg_stat_activity"
                                          " where usename = 'teichaku_app'")).scalars().all()
            assert "teichaku-reporting" in names
            db.session.commit()
    finally:
        with reporting.app_context():
            for engine in db.engines.values():
                engine.dispose()

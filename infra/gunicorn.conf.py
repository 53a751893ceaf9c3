"""gunicorn settings (``gunicorn --config infra/gunicorn.conf.py wsgi:app``)."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:" + os.environ.get("PORT", "5000"))
workers = int(os.environ.get("GUNICORN_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
worker_class = "gthread"
timeout = 60
graceful_timeout = 30
# The access log never carries query strings (they may hold search terms): %(U)s is the path.
accesslog = "-"
access_log_format = '{"remote":"%(h)s","method":"%(m)s","path":"%(U)s","status":%(s)s,"bytes":%(B)s,"ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn 23+ opens a control socket at one fixed path per user; several instances on one
# machine (tests, benchmarks, blue/green) would share it.  We use signals, not the socket.
control_socket_disable = True


def post_worker_init(worker):
    """Behind nginx every request comes from the proxy.  With TRUSTED_PROXY_HOPS=1 (set where
    nginx is in front, infra/README.md) the client's address is the X-Forwarded-For entry nginx
    wrote, for per-IP sign-in throttling and the audit log's IP.  Unset (``make run``, no proxy):
    the header is ignored, so a client cannot pick its own address."""
    hops = int(os.environ.get("TRUSTED_PROXY_HOPS") or 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        worker.wsgi = ProxyFix(worker.wsgi, x_for=hops)

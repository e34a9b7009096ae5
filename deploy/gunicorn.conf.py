"""gunicorn for a Common Ground app server: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`.

Behind the reverse proxy of deploy/nginx-common-ground.conf, which reads every request whole
(slow clients wait at the proxy, never in a worker) and gives up on a slow one after 10 s.
Two gthread workers of four threads suit a 2-core machine (bench/README.md, "Worker setup").
Every setting can be overridden on the command line (`--bind`, `--workers`)."""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# A worker that does not answer its master for 30 s is replaced (the database's own statement
# timeout, 15 s, ends a stuck query first); shutdown lets running requests finish for 20 s.
timeout = 30
graceful_timeout = 20
# No keep-alive: each response closes its connection, so the proxy's next request is accepted by
# whichever worker is free. With keep-alive, a worker keeps the connections it accepted, and
# measured under load one worker of two served 98 % of the requests while the other idled
# (bench/README.md, "Worker setup"): half the machine. A new connection on localhost costs
# far less than that.
keepalive = 0
# Request lines and headers stay small: nothing legitimate comes close.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
# Only the proxy on this machine may say who the client is (X-Forwarded-For / -Proto).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = "info"
proc_name = "common-ground"

"""gunicorn settings for `make bench` (bench/run.py passes the BENCH_* variables).

The default is the setup chosen for a 2-core machine (see bench/README.md, "Worker setup"):
2 gthread workers (one per core: rendering pages is CPU-bound Python, and the GIL lets one
process use about one core) with 4 threads each, so that a worker waiting on the database or
on the socket can serve another request meanwhile; no keep-alive (as deploy/gunicorn.conf.py:
a worker keeps the connections it accepted, and one worker then serves nearly everything).
"""
import multiprocessing
import os

bind = os.environ.get("BENCH_BIND", "127.0.0.1:8765")
workers = int(os.environ.get("BENCH_WORKERS") or multiprocessing.cpu_count())
worker_class = os.environ.get("BENCH_WORKER_CLASS", "gthread")
threads = int(os.environ.get("BENCH_THREADS", "4"))
# Room for the 8 connections (and the warm-up) without refusing any.
worker_connections = 100
backlog = 256
# Seconds an idle keep-alive connection stays open; 0 closes each after its response (then each
# new connection goes to whichever worker is free: see "Worker setup" in bench/README.md).
keepalive = int(os.environ.get("BENCH_KEEPALIVE", "0"))
timeout = 30
graceful_timeout = 5
# Workers import the app themselves (no preload): each has its own database pool, as in a
# normal deployment, and its resident memory is what a worker really costs.
preload_app = False
accesslog = None  # an access line per request would measure the logging, not the app
errorlog = os.environ.get("BENCH_ERRORLOG", "-")
loglevel = "warning"
proc_name = "common-ground-bench"

"""A request for a host the practice is not served under (TRUSTED_HOSTS) gets a plain 400.

Flask refuses such a request before it can build any URL, so the friendly error page (whose
layout links to other pages) cannot be rendered: without this handler the refusal itself would
fail and answer 500, logging a traceback for every scanner that sends a made-up Host header.
"""
from flask import Flask, Response
from werkzeug.exceptions import SecurityError


def init_app(app: Flask) -> None:
    @app.errorhandler(SecurityError)
    def untrusted_host(exc):
        return Response("Bad request: this site is not served under that host name.\n", 400,
                        mimetype="text/plain")

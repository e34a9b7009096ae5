"""Entry point for gunicorn (`gunicorn -c deploy/gunicorn.conf.py wsgi:app`) and `flask --app wsgi`."""
import os

from app import create_app
from app.web.readiness import refuse_to_start_unless_ready

app = create_app()
if not os.environ.get("FLASK_RUN_FROM_CLI"):  # a server, not `flask db upgrade` and the like
    refuse_to_start_unless_ready(app)

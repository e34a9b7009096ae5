"""`flask check-deploy`: a production configuration passes; each unsafe setting FAILs loudly with
exit status 1; softer problems WARN; secrets never appear in its output."""
from __future__ import annotations

import base64
import secrets

import pytest

from app import create_app
from app.notifications.push import generate_vapid_keys
from config import DevelopmentConfig, ProductionConfig, _env_list

STRONG_KEY = secrets.token_hex(32)
DB_PASSWORD = "db-password-never-printed-93af"
ENCRYPTION_KEY = base64.b64encode(b"k" * 32).decode()
GOOD = dict(
    ENV_NAME="production", DEBUG=False, TESTING=False, SECRET_KEY=STRONG_KEY,
    SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, SESSION_COOKIE_HTTPONLY=True,
    REMEMBER_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_ENABLED=True,
    TRUSTED_HOSTS=["care.example.org"], MAX_CONTENT_LENGTH=8 * 1024 * 1024,
    MAX_FORM_MEMORY_SIZE=2 * 1024 * 1024, ALLOW_DEMO_DATA=False,
    SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://cg:{DB_PASSWORD}@db.internal/cg",
    ENCRYPTION_KEYS=f"k1:{ENCRYPTION_KEY}", MAIL_SERVER="smtp.example.org", MAIL_LOG_BODIES=False,
    SERVER_BASE_URL="https://care.example.org", PREFERRED_URL_SCHEME="https", RATELIMIT_ENABLED=True,
    RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379", PROXY_FIX_X_FOR=1,
    OUTBOX_DELIVERY="worker", OUTBOX_REDIS_URL="redis://127.0.0.1:6379/1",
    VAPID_PRIVATE_KEY=generate_vapid_keys()[0], VAPID_SUBJECT="mailto:practice@example.org",
)


def check_deploy(app, **overrides):
    app.config.update(GOOD)
    app.config.update(overrides)
    return app.test_cli_runner().invoke(args=["check-deploy"])


def lines(result, status: str) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith(status)]


def test_a_production_configuration_passes(app):
    result = check_deploy(app)
    assert result.exit_code == 0, result.output
    assert lines(result, "FAIL") == [] and lines(result, "WARN") == []
    assert len(lines(result, "OK")) >= 15
    assert "all" in result.output and "checks passed" in result.output


def test_secrets_are_never_printed(app):
    for overrides in ({}, {"SECRET_KEY": "short-but-secret-value"}):
        result = check_deploy(app, **overrides)
        for secret in (STRONG_KEY, DB_PASSWORD, ENCRYPTION_KEY, "short-but-secret-value"):
            assert secret not in result.output


@pytest.mark.parametrize("overrides, failing", [
    ({"ENV_NAME": "development"}, "environment"),
    ({"DEBUG": True}, "debug"),
    ({"TESTING": True}, "testing mode"),
    ({"SECRET_KEY": None}, "secret key"),
    ({"SECRET_KEY": "dev"}, "secret key"),
    ({"SECRET_KEY": "a" * 20}, "secret key"),
    ({"SESSION_COOKIE_SECURE": False}, "session cookie over HTTPS only"),
    ({"REMEMBER_COOKIE_SECURE": False}, "remember-me cookie over HTTPS only"),
    ({"SESSION_COOKIE_HTTPONLY": False}, "session cookie hidden from scripts"),
    ({"REMEMBER_COOKIE_HTTPONLY": False}, "remember-me cookie hidden from scripts"),
    ({"SESSION_COOKIE_SAMESITE": None}, "session cookie same-site"),
    ({"WTF_CSRF_ENABLED": False}, "CSRF protection"),
    ({"TRUSTED_HOSTS": None}, "trusted hosts"),
    ({"TRUSTED_HOSTS": []}, "trusted hosts"),
    ({"TRUSTED_HOSTS": ["*"]}, "trusted hosts"),
    ({"MAX_CONTENT_LENGTH": None}, "request size limit"),
    ({"MAX_CONTENT_LENGTH": 1024 ** 3}, "request size limit"),
    ({"MAX_FORM_MEMORY_SIZE": None}, "form size limit"),
    ({"ALLOW_DEMO_DATA": True}, "demo data refused"),
    ({"MAIL_LOG_BODIES": True}, "mail in logs"),
    ({"SERVER_BASE_URL": "http://care.example.org"}, "links in emails"),
    ({"ENCRYPTION_KEYS": "k1:not base64!"}, "encryption at rest"),
    ({"RATELIMIT_ENABLED": False}, "login throttling"),
])
def test_an_unsafe_setting_fails_loudly(app, overrides, failing):
    result = check_deploy(app, **overrides)
    assert result.exit_code == 1, result.output
    [line] = lines(result, "FAIL")
    assert line[4:].strip().startswith(failing + "  "), line
    assert "FAILED" in result.output and "must not serve real records" in result.output


@pytest.mark.parametrize("overrides, warning", [
    ({"SQLALCHEMY_DATABASE_URI": "sqlite:////srv/cg/common-ground.sqlite"}, "database"),
    ({"ENCRYPTION_KEYS": None}, "encryption at rest"),
    ({"MAIL_SERVER": None}, "mail"),
    ({"SERVER_BASE_URL": None}, "links in emails"),
    ({"RATELIMIT_STORAGE_URI": "memory://"}, "throttling storage"),
    ({"PROXY_FIX_X_FOR": 0}, "client addresses"),
])
def test_a_softer_problem_warns_and_passes(app, overrides, warning):
    result = check_deploy(app, **overrides)
    assert result.exit_code == 0, result.output
    [line] = lines(result, "WARN")
    assert line[4:].strip().startswith(warning + "  "), line
    assert "warning" in result.output


def test_every_failure_is_listed_at_once(app):
    result = check_deploy(app, DEBUG=True, TRUSTED_HOSTS=None, SESSION_COOKIE_SECURE=False)
    assert result.exit_code == 1
    assert len(lines(result, "FAIL")) == 3
    assert "3 check(s) FAILED" in result.output


def _app_of(config_class, tmp_path, **settings):
    class Config(config_class):
        SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'check.sqlite'}"
    for key, value in settings.items():
        setattr(Config, key, value)
    return create_app(Config)


def test_the_shipped_production_config_passes_once_its_environment_is_set(tmp_path):
    """What an operator sets in the environment (here as attributes): everything else is the
    shipped ProductionConfig's own default."""
    app = _app_of(ProductionConfig, tmp_path, SECRET_KEY=STRONG_KEY, ENCRYPTION_KEYS=f"k1:{ENCRYPTION_KEY}",
                  TRUSTED_HOSTS=["care.example.org"], MAIL_SERVER="smtp.example.org",
                  SERVER_BASE_URL="https://care.example.org")
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 0, result.output
    assert lines(result, "FAIL") == []


def test_the_development_config_fails(tmp_path):
    app = _app_of(DevelopmentConfig, tmp_path)
    result = app.test_cli_runner().invoke(args=["check-deploy"])
    assert result.exit_code == 1
    failing = " ".join(lines(result, "FAIL"))
    for name in ("environment", "session cookie over HTTPS only", "trusted hosts", "demo data refused",
                 "mail in logs"):
        assert name in failing


def test_trusted_hosts_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_HOSTS", " care.example.org, .example.org ,")
    assert _env_list("TRUSTED_HOSTS") == ["care.example.org", ".example.org"]
    monkeypatch.setenv("TRUSTED_HOSTS", " , ")
    assert _env_list("TRUSTED_HOSTS") is None
    monkeypatch.delenv("TRUSTED_HOSTS")
    assert _env_list("TRUSTED_HOSTS") is None


def test_trusted_hosts_refuse_another_host(app, client):
    app.config["TRUSTED_HOSTS"] = ["care.example.org"]
    assert client.get("/healthz", headers={"Host": "care.example.org"}).status_code == 200
    refused = client.get("/login", headers={"Host": "attacker.example"})
    assert refused.status_code == 400
    assert "not served under that host name" in refused.get_data(as_text=True)
    assert "attacker.example" not in refused.get_data(as_text=True)


def test_only_development_logs_email_bodies():
    from config import Config, TestingConfig

    assert DevelopmentConfig.MAIL_LOG_BODIES is True
    assert Config.MAIL_LOG_BODIES is False
    assert TestingConfig.MAIL_LOG_BODIES is False and ProductionConfig.MAIL_LOG_BODIES is False


def test_the_outbox_sent_from_the_web_process_or_waiting_long_is_a_warning(app):
    from datetime import timedelta

    from app.extensions import db
    from app.models import utcnow
    from app.notifications.outbox import queue_email

    result = check_deploy(app, OUTBOX_DELIVERY="thread")
    assert result.exit_code == 0
    assert any("outbox" in line and "flask outbox-worker" in line for line in lines(result, "WARN"))
    result = check_deploy(app, VAPID_PRIVATE_KEY=None)
    assert result.exit_code == 0
    assert any("push notifications are off: VAPID_PRIVATE_KEY is not set" in line
               for line in lines(result, "WARN"))

    app.config.update(OUTBOX_DELIVERY="worker", OUTBOX_REDIS_URL=None)  # committing wakes nobody
    queue_email("someone@example.org", "Hello", "A link", purpose="invitation",
                not_before=utcnow() - timedelta(minutes=20))
    db.session.commit()
    result = check_deploy(app)
    assert result.exit_code == 0
    assert any("1 email(s) or push(es) have waited over 15 minutes" in line for line in lines(result, "WARN"))

"""The devices a person receives pushes on: turning push on (a browser's subscription, checked
before anything is stored) and off, and the list on her account page.

A subscription names a URL the practice's server will POST to, so it is checked like any URL a
stranger hands the server: https, on a known push service's host (PUSH_SERVICE_HOSTS), no IP
address, no credentials, no odd port; and keys that are really a P-256 point and a 16-byte secret.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from sqlalchemy.exc import IntegrityError

from app import audit, policy
from app.extensions import db
from app.models import PushSubscription, User
from app.notifications.push import b64url, b64url_decode, push_problem

log = logging.getLogger("common_ground.push")
ENDPOINT_MAX = 1000  # the column's size
NOT_A_PUSH_SERVICE = ("This browser's push address is not one of the push services this practice "
                      "sends to, so notifications cannot be turned on for it.")


class PushRefused(Exception):
    """Push cannot be turned on as asked; the message says why, for the person."""


class PushNotSetUp(PushRefused):
    """This practice has no VAPID keys (or unusable ones): push is off for everyone."""


@dataclass(frozen=True)
class Checked:
    endpoint: str
    p256dh: str
    auth: str


# --- checking a subscription ------------------------------------------------------------------

def endpoint_problem(endpoint) -> str | None:
    """Why `endpoint` is not a push service's address this practice may POST to, or None."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        return "The browser sent no push address."
    if len(endpoint) > ENDPOINT_MAX:
        return "The browser's push address is too long."
    if not endpoint.isascii() or any(ch.isspace() or ord(ch) < 32 or ch in "\\\x7f" for ch in endpoint):
        return "The browser's push address is not a web address."
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError:
        return "The browser's push address is not a web address."
    config = current_app.config
    plain_ok = config.get("PUSH_ALLOW_PLAIN_HTTP") and config.get("ENV_NAME") != "production"
    if parts.scheme != "https" and not (plain_ok and parts.scheme == "http"):
        return "The browser's push address is not a secure (https) address."
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        return "The browser's push address carries a user name or password; it is not a push service's."
    host = parts.hostname or ""
    if not host or not parts.path.strip("/") or parts.fragment:
        return "The browser's push address is not a web address."
    if not any(_host_matches(entry, host, port, parts.scheme) for entry in _allowed_hosts()):
        if parts.scheme != "https":
            return "The browser's push address is not a secure (https) address."
        if _is_ip(host):
            return "The browser's push address is an IP address, not a push service."
        return NOT_A_PUSH_SERVICE
    return None


def _allowed_hosts() -> list[str]:
    return [entry.strip().lower() for entry in current_app.config.get("PUSH_SERVICE_HOSTS") or []
            if entry.strip()]


def _host_matches(entry: str, host: str, port: int | None, scheme: str) -> bool:
    """`entry` is "host", "*.domain" (any name under it) or "host:port". Plain http (tests only:
    PUSH_ALLOW_PLAIN_HTTP) is for a "host:port" entry alone, never a real push service's name."""
    entry_host, entry_port = entry, ""
    if ":" in entry and entry.rsplit(":", 1)[1].isdigit():
        entry_host, entry_port = entry.rsplit(":", 1)
    if scheme != "https" and not entry_port:
        return False
    default = 443 if scheme == "https" else 80
    if entry_port:
        if (port or default) != int(entry_port):
            return False
    elif port not in (None, default):
        return False
    if entry_host.startswith("*."):
        return host.endswith(entry_host[1:]) and len(host) > len(entry_host) - 1 and not _is_ip(host)
    return host == entry_host


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def check_subscription(endpoint, p256dh, auth) -> Checked:
    """The subscription with its keys in one canonical form, or PushRefused saying what is wrong."""
    problem = endpoint_problem(endpoint)
    if problem:
        raise PushRefused(problem)
    point = b64url_decode(p256dh) if isinstance(p256dh, str) and len(p256dh) <= 200 else None
    if point is None or len(point) != 65 or point[0] != 4:
        raise PushRefused("The browser's push key is missing or not a key.")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise PushRefused("The browser's push key is not a valid key.") from None
    secret = b64url_decode(auth) if isinstance(auth, str) and len(auth) <= 100 else None
    if secret is None or len(secret) != 16:
        raise PushRefused("The browser's push secret is missing or not 16 bytes.")
    return Checked(endpoint, b64url(point), b64url(secret))


# --- turning push on and off --------------------------------------------------------------------

def turn_on(user: User, endpoint, p256dh, auth, user_agent: str = "") -> PushSubscription:
    """Keep this browser's subscription for her: the same endpoint again updates it; one another
    person had on this browser (a shared tablet) moves to her. Raises PushRefused."""
    problem = push_problem()
    if problem:
        log.warning("Push cannot be turned on: %s", problem)
        raise PushNotSetUp("Push notifications are not set up at this practice. Emails still work: "
                          "you can turn them on above.")
    checked = check_subscription(endpoint, p256dh, auth)
    try:
        return _keep(user, checked, device_label(user_agent))
    except IntegrityError:  # the same browser sent it twice at once: the other request won
        db.session.rollback()
        return _keep(user, checked, device_label(user_agent))


def _keep(user: User, checked: Checked, device: str) -> PushSubscription:
    existing = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == checked.endpoint))
    if existing is not None and existing.user_id == user.id:
        existing.p256dh, existing.auth, existing.device = checked.p256dh, checked.auth, device
        db.session.commit()
        return existing
    if len(devices_of(user)) >= current_app.config["PUSH_MAX_DEVICES"]:
        raise PushRefused(f"Push is on for {current_app.config['PUSH_MAX_DEVICES']} of your devices "
                          "already. Turn it off for one you no longer use, then try again.")
    if existing is not None:
        # Someone else's on this browser until now: hers from here on. A new row, so that what
        # was waiting to be sent to the other person (outbox rows of that row) goes with the old.
        previous = db.session.get(User, existing.user_id)
        audit.record(user, "push_moved_from_another_account", previous, existing)
        db.session.delete(existing)
        db.session.flush()
    subscription = PushSubscription(user_id=user.id, endpoint=checked.endpoint, p256dh=checked.p256dh,
                                    auth=checked.auth, device=device)
    db.session.add(subscription)
    db.session.flush()
    audit.record(user, "push_turned_on", user, subscription)
    db.session.commit()
    return subscription


def turn_off(user: User, subscription_id) -> bool:
    """Turn push off for one of her devices; False when it is not one of hers (or not there)."""
    try:
        wanted = int(subscription_id)
    except (TypeError, ValueError):
        return False
    if not 0 < wanted < 2**31:
        return False
    subscription = db.session.scalar(policy.visible_push_devices(user).where(PushSubscription.id == wanted))
    if subscription is None:
        return False
    audit.record(user, "push_turned_off", user, subscription)
    db.session.delete(subscription)
    db.session.commit()
    return True


def devices_of(user: User) -> list[PushSubscription]:
    """Her devices with push on, oldest first."""
    return list(db.session.scalars(policy.visible_push_devices(user)
                                   .order_by(PushSubscription.created_at, PushSubscription.id)))


def endpoint_tag(subscription: PushSubscription) -> str:
    """A short hash of the endpoint: push.js marks "this device" by it, the endpoint itself (a
    capability URL) never being put in a page."""
    return hashlib.sha256(subscription.endpoint.encode()).hexdigest()[:16]


# --- naming a device -----------------------------------------------------------------------------

_BROWSERS = (("Edg", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser", "Samsung Internet"),
             ("FxiOS", "Firefox"), ("Firefox/", "Firefox"), ("CriOS", "Chrome"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("CrOS", "ChromeOS"),
            ("Windows", "Windows"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def device_label(user_agent: str | None) -> str:
    """"Chrome on Android" from the browser's User-Agent; only these known words are kept."""
    agent = (user_agent or "")[:1000]
    browser = next((name for token, name in _BROWSERS if token in agent), None)
    system = next((name for token, name in _SYSTEMS if token in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "A browser")

"""Web push: the practice's VAPID keys, the content-free payload, and sending one push to one
device (RFC 8030 / 8291 / 8292, through pywebpush). The outbox calls `send_push` after the
change that caused it has committed; the devices themselves are kept by push_devices.py.

A push says only that something is new ("You have a new message in Common Ground") and where to
look (a path of this site): never a name, never a word anyone wrote. It goes encrypted to the
browser's own push service, which cannot read it either.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import time
from urllib.parse import urlsplit

import click
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app

from app.models import PushSubscription

TITLE = "Common Ground"
NEW_MESSAGE = "You have a new message in Common Ground"
SOMETHING_NEW = "You have something new in Common Ground"
DEFAULT_PATH = "/notifications"
# A contact the push services accept: an email address or a site (py_vapid's check, narrowed).
_SUBJECT = re.compile(r"^(mailto:[\w.+%-]+@[\w-]+(\.[\w-]+)*|https://[\w-]+(\.[\w-]+)+)$", re.IGNORECASE)


class PushFailed(Exception):
    """Not delivered this time; worth trying again (a 5xx, 429, no answer). The message names
    the push service's host and the status, never the endpoint's path (its secret part)."""

    def __init__(self, reason: str, retry_after: str | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class PushGone(Exception):
    """The push service says this device is gone (404, 410): the subscription is to be forgotten."""


# --- the payload ----------------------------------------------------------------------------

def push_payload(kind: str, link: str) -> str:
    """The JSON a device receives: the practice's name, one generic sentence and a local path."""
    body = NEW_MESSAGE if kind == "new_message" else SOMETHING_NEW
    return json.dumps({"title": TITLE, "body": body, "url": local_path(link)})


def local_path(link: str | None) -> str:
    """`link` when it is a path of this site ("/tasks/3"), else the notifications page: a push
    never leads anywhere else (the service worker checks it again)."""
    if not isinstance(link, str) or not link.startswith("/") or link.startswith("//") or "\\" in link:
        return DEFAULT_PATH
    if len(link) > 500 or any(ord(ch) < 33 or ord(ch) > 126 for ch in link):
        return DEFAULT_PATH
    parts = urlsplit(link)
    if parts.scheme or parts.netloc:
        return DEFAULT_PATH
    return link


# --- the practice's keys ----------------------------------------------------------------------

def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(value) -> bytes | None:
    """The bytes of an unpadded (or padded) base64url text, or None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip("=")
    if not text or not re.fullmatch(r"[A-Za-z0-9_-]+", text) or len(text) % 4 == 1:
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def generate_vapid_keys() -> tuple[str, str]:
    """A new key pair: (private key: the 32-byte scalar, public key: the 65-byte uncompressed
    point, the browser's applicationServerKey), both base64url."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(private), _public_of(key)


def _public_of(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def _private_key() -> ec.EllipticCurvePrivateKey | None:
    raw = b64url_decode(current_app.config.get("VAPID_PRIVATE_KEY") or "")
    if raw is None or len(raw) != 32:
        return None
    try:
        return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    except ValueError:  # zero, or not below the curve's order
        return None


def vapid_public_key() -> str | None:
    """The application server key browsers subscribe with, or None when push is not set up.
    Derived from the private key, so the two can never disagree."""
    return _public_of(key) if (key := _private_key()) is not None else None


def push_problem() -> str | None:
    """Why push is off at this practice, or None when it is set up."""
    config = current_app.config
    if not config.get("VAPID_PRIVATE_KEY"):
        return "VAPID_PRIVATE_KEY is not set (`flask vapid-keys` makes the keys)"
    public = vapid_public_key()
    if public is None:
        return "VAPID_PRIVATE_KEY is not a P-256 private key in base64url (`flask vapid-keys`)"
    given = (config.get("VAPID_PUBLIC_KEY") or "").strip().rstrip("=")
    if given and given != public:
        return "VAPID_PUBLIC_KEY does not belong to VAPID_PRIVATE_KEY"
    if not _SUBJECT.match(config.get("VAPID_SUBJECT") or ""):
        return "VAPID_SUBJECT is not a mailto: address or an https: URL"
    return None


def push_enabled() -> bool:
    """Whether this practice can send pushes (its VAPID keys and contact are configured)."""
    return push_problem() is None


# --- sending ----------------------------------------------------------------------------------

class _NoRedirects(requests.Session):
    """A push goes to the endpoint itself: a redirect elsewhere is not followed."""

    def request(self, *args, **kwargs):
        kwargs["allow_redirects"] = False
        return super().request(*args, **kwargs)


def send_push(subscription: PushSubscription, payload: str) -> None:
    """Send one push to one device, VAPID-signed and encrypted for it. Raises PushGone when the
    push service says the device is gone, PushFailed for anything worth trying again."""
    # pywebpush (with aiohttp, ~20 MB resident) is loaded by the first push, not by every worker
    # of a practice that may never send one.
    from py_vapid import Vapid, VapidException
    from pywebpush import WebPushException, webpush

    from app.notifications.push_devices import endpoint_problem

    problem = push_problem()
    if problem:
        raise PushFailed(f"push is not set up: {problem}")
    endpoint = subscription.endpoint
    if endpoint_problem(endpoint):  # the settings changed since: never send to another host
        raise PushGone("the device's push service is not an allowed one")
    parts = urlsplit(endpoint)
    host = parts.hostname or "?"
    config = current_app.config
    claims = {"sub": config["VAPID_SUBJECT"], "aud": f"{parts.scheme}://{parts.netloc}",
              "exp": int(time.time()) + 12 * 3600}
    info = {"endpoint": endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    with _NoRedirects() as session:
        try:
            webpush(info, data=payload, vapid_private_key=Vapid(_private_key()), vapid_claims=claims,
                    ttl=int(config["PUSH_TTL_SECONDS"]), timeout=float(config["PUSH_TIMEOUT_SECONDS"]),
                    headers={"Urgency": "normal"}, requests_session=session)
        except WebPushException as exc:
            status = exc.status_code
            if status in (404, 410):
                raise PushGone(f"push service {host} answered {status}: the device is gone") from None
            if status is None:  # the subscription's keys could not be used
                raise PushFailed(f"could not encrypt for the device ({exc.message[:80]})") from None
            raise PushFailed(f"push service {host} answered {status}", exc.retry_after) from None
        except requests.RequestException as exc:  # its text holds the URL: never repeated
            raise PushFailed(f"no answer from push service {host} ({type(exc).__name__})") from None
        except (VapidException, ValueError) as exc:  # keys or claims unusable: said, never raised on
            raise PushFailed(f"could not sign or encrypt the push ({type(exc).__name__})") from None


# --- `flask vapid-keys` -----------------------------------------------------------------------

@click.command("vapid-keys")
@click.option("--subject", default=None,
              help="A contact for the push services: mailto:someone@your-practice or https://your-practice.")
def vapid_keys_command(subject):
    """Make the practice's web push (VAPID) keys and print the settings to put in the environment."""
    if subject is None:
        sender = current_app.config.get("MAIL_DEFAULT_SENDER") or ""
        address = re.search(r"[^<>\s]+@[^<>\s]+", sender)
        subject = f"mailto:{address.group(0)}" if address else "mailto:"
    if not _SUBJECT.match(subject):
        raise click.ClickException("--subject must be mailto:someone@your-practice or an https: URL.")
    private, public = generate_vapid_keys()
    click.echo("# Web push: add these to the environment of the app and of `flask outbox-worker`.")
    click.echo("# Keep VAPID_PRIVATE_KEY secret, like SECRET_KEY. A new pair later turns push off on")
    click.echo("# every device until each person turns it on again.")
    click.echo(f"VAPID_PRIVATE_KEY={private}")
    click.echo(f"VAPID_PUBLIC_KEY={public}")
    click.echo(f"VAPID_SUBJECT={subject}")
    if re.search(r"@localhost$|//localhost", subject, re.IGNORECASE):
        click.echo("Note: some push services (Apple's) refuse a localhost contact: give "
                   "--subject mailto:someone@your-practice.", err=True)

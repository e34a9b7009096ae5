"""A push service on 127.0.0.1 for the tests, strict like a real one (RFC 8030, 8291, 8292).

It checks each push before it accepts it: the VAPID `Authorization: vapid t=<JWT>, k=<key>`
header (the ES256 signature verified with the key it names; that key the one the browser
subscribed with; `aud` this service's origin; `exp` in the future and at most 24 hours away;
`sub` a mailto: or https: contact), a TTL, and an aes128gcm body, which it decrypts with the
device's private key and auth secret (that only the browser, here the test's FakeBrowser, holds).
A push that fails a check is answered 401/400 and its reason kept in `refused`; an accepted one
is kept in `received`. `answer_next(status)` and `answer_always(browser, status)` make it answer
as a service in trouble would.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

MAX_EXPIRY = 24 * 3600  # RFC 8292: "exp" no more than 24 hours from the time of the request


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeBrowser:
    """What a browser keeps of one push subscription: its keys, and the practice's key it
    subscribed with (applicationServerKey)."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    server_key: str | None

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def form(self) -> dict:
        """The fields push.js posts (PushSubscription.toJSON(), flattened)."""
        return {"endpoint": self.endpoint, "p256dh": self.p256dh, "auth": self.auth}


@dataclass
class Received:
    token: str
    headers: dict  # names in lower case
    claims: dict
    vapid_key: str
    payload: bytes  # decrypted
    body: bytes     # as sent


@dataclass
class PushService:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    browsers: dict[str, FakeBrowser] = field(default_factory=dict)
    _answers: list[int] = field(default_factory=list)
    _answers_for: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def host_entry(self) -> str:
        """This service as an entry of PUSH_SERVICE_HOSTS."""
        return f"{self.host}:{self.port}"

    def new_browser(self, server_key: str | None) -> FakeBrowser:
        """A browser subscribing here with the practice's public key `server_key`."""
        token = secrets.token_urlsafe(24)
        browser = FakeBrowser(f"{self.origin}/push/{token}", ec.generate_private_key(ec.SECP256R1()),
                              os.urandom(16), server_key)
        with self._lock:
            self.browsers[token] = browser
        return browser

    def answer_next(self, *statuses: int) -> None:
        """Answer the next pushes with these statuses (and accept none of them)."""
        with self._lock:
            self._answers.extend(statuses)

    def answer_always(self, browser: FakeBrowser, status: int) -> None:
        """Answer every push to this one device with `status`."""
        with self._lock:
            self._answers_for[browser.endpoint.rsplit("/", 1)[1]] = status

    def reset(self) -> None:
        with self._lock:
            self.received.clear()
            self.refused.clear()
            self.browsers.clear()
            self._answers.clear()
            self._answers_for.clear()

    def payloads(self) -> list[dict]:
        return [json.loads(r.payload) for r in self.received]

    # -- checking one push, as a real push service does --------------------------------------

    def check(self, token: str, headers, body: bytes) -> tuple[int, Received | str]:
        browser = self.browsers.get(token)
        if browser is None:
            return 404, "no such subscription"
        auth = headers.get("Authorization", "")
        scheme, _, params = auth.partition(" ")
        if scheme.lower() != "vapid":
            return 401, f"Authorization is not the vapid scheme: {scheme!r}"
        parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
        if set(parts) != {"t", "k"}:
            return 401, f"vapid parameters are not t and k: {sorted(parts)}"
        claims_or_reason = verify_jwt(parts["t"], parts["k"], self.origin)
        if isinstance(claims_or_reason, str):
            return 401, claims_or_reason
        if browser.server_key is not None and parts["k"].rstrip("=") != browser.server_key.rstrip("="):
            return 403, "the VAPID key is not the one the browser subscribed with"
        ttl = headers.get("TTL")
        if ttl is None or not ttl.isdigit():
            return 400, f"no valid TTL header: {ttl!r}"
        if headers.get("Content-Encoding") != "aes128gcm":
            return 415, f"Content-Encoding is not aes128gcm: {headers.get('Content-Encoding')!r}"
        try:
            payload = http_ece.decrypt(body, private_key=browser.private_key,
                                       auth_secret=browser.auth_secret, version="aes128gcm")
        except Exception as exc:  # noqa: BLE001 - any failure to decrypt is a refusal
            return 400, f"the body does not decrypt: {type(exc).__name__}: {exc}"
        names = {k.lower(): v for k, v in headers.items()}
        return 201, Received(token, names, claims_or_reason, parts["k"], payload, body)


def verify_jwt(token: str, key: str, origin: str) -> dict | str:
    """The JWT's claims when its ES256 signature verifies with `key` and its claims are right
    for a push to `origin`; else why not."""
    try:
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(unb64url(header_b64))
        claims = json.loads(unb64url(claims_b64))
        signature = unb64url(signature_b64)
        point = unb64url(key)
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, TypeError) as exc:
        return f"the JWT or key cannot be read: {exc}"
    if header.get("alg") != "ES256":
        return f"JWT alg is not ES256: {header}"
    if len(signature) != 64:
        return f"the signature is not 64 bytes (r||s): {len(signature)}"
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "the JWT's signature does not verify with the key k"
    now = time.time()
    if claims.get("aud") != origin:
        return f"aud {claims.get('aud')!r} is not this service's origin {origin!r}"
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now or exp > now + MAX_EXPIRY + 5:
        return f"exp {exp!r} is not in the future within 24 hours"
    sub = claims.get("sub")
    if not isinstance(sub, str) or not (sub.startswith("mailto:") and "@" in sub or sub.startswith("https://")):
        return f"sub {sub!r} is not a mailto: or https: contact"
    return claims


def start(service: PushService) -> ThreadingHTTPServer:
    """Serve `service` on 127.0.0.1 from a thread; returns the server (call shutdown())."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            token = self.path.removeprefix("/push/") if self.path.startswith("/push/") else ""
            with service._lock:
                forced = service._answers_for.get(token) or (service._answers.pop(0) if service._answers else None)
            if forced is not None:
                self._answer(forced)
                return
            status, outcome = service.check(token, self.headers, body)
            with service._lock:
                if isinstance(outcome, Received):
                    service.received.append(outcome)
                else:
                    service.refused.append(outcome)
            self._answer(status, location=f"/message/{secrets.token_hex(4)}" if status == 201 else None)

        def _answer(self, status: int, location: str | None = None):
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            if status == 429:
                self.send_header("Retry-After", "30")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer((service.host, service.port), Handler)
    service.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, name="test-push-service", daemon=True).start()
    return server

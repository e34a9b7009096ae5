"""Encryption at rest for free text: keys, encrypt/decrypt, the column types, `flask rotate-key`.

A stored value reads `enc:v1:<key id>:<base64 of nonce + ciphertext + tag>`, AES-256-GCM with a
random 96-bit nonce and the `enc:v1:<key id>` header as associated data. The key id lets
`flask rotate-key` find what an older key wrote and re-encrypt it under the current key.

Keys come from ENCRYPTION_KEYS, "id:base64key,id:base64key" (32-byte keys, the first one
encrypts, all of them decrypt). Without it (development, tests) one key is derived from
SECRET_KEY with HKDF, so a development database stays readable across restarts; production
refuses to start without ENCRYPTION_KEYS (see security.check_config).

A value without the prefix is legacy plain text and is returned as it is. A value with the
prefix that cannot be decrypted (unknown key id, wrong key, altered bytes) raises
DecryptionError from KeyRing.decrypt: never garbage, never the ciphertext in place of the text.
Read through a column type, such a value becomes a placeholder ("This text cannot be read
(error <id>)", see Unreadable) and the error is logged with its table and column, so that one
bad value never makes a page fail; written back, the placeholder stores the same ciphertext
again, never its sentence. `flask verify-data` lists every such value, `flask rotate-key` skips
them, and app/core/key_check.py keeps a server with the wrong keys from writing any.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app
from sqlalchemy.sql import operators

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
# Frozen: migration 0006 derives the same key the same way; changing these makes every value
# written by a derived key unreadable.
HKDF_SALT = b"common-ground/encryption-at-rest"
HKDF_INFO_KEY = b"common-ground data key v1"
HKDF_INFO_ID = b"common-ground data key id v1"
UNREADABLE_TEXT = "This text cannot be read (error {error_id})"

log = logging.getLogger("common_ground.crypto")


class EncryptionConfigError(RuntimeError):
    """ENCRYPTION_KEYS (or the SECRET_KEY it falls back on) cannot give a usable key."""


class DecryptionError(RuntimeError):
    """A stored value says it is encrypted but cannot be decrypted with the configured keys."""


class KeyCheckError(RuntimeError):
    """ENCRYPTION_KEYS does not match the key check values stored with the data: nothing is
    encrypted with it (see app/core/key_check.py)."""


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The configured keys in order; the first one encrypts, every one decrypts."""

    keys: tuple[tuple[str, bytes], ...]

    def __repr__(self) -> str:  # the ids only: key material never reaches a log or a traceback
        return f"KeyRing(ids={[key_id for key_id, _ in self.keys]})"

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    @functools.cached_property
    def _ciphers(self) -> dict[str, AESGCM]:
        return {key_id: AESGCM(key) for key_id, key in self.keys}

    def encrypt(self, plaintext: str) -> str:
        header = f"{PREFIX}{self.current_id}"
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext.encode("utf-8"),
                                                         header.encode("ascii"))
        return f"{header}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str) -> str:
        if not is_encrypted(stored):
            return stored  # legacy plain text, written before encryption was turned on
        key_id, _, payload = stored[len(PREFIX):].partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise DecryptionError(
                f"value encrypted with key {key_id!r}, which is not in ENCRYPTION_KEYS "
                f"(configured: {', '.join(k for k, _ in self.keys)})")
        try:
            raw = base64.b64decode(payload, validate=True)
            opened = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                    f"{PREFIX}{key_id}".encode("ascii"))
            return opened.decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise DecryptionError(
                f"value under key {key_id!r} does not decrypt: wrong key material or altered "
                "data") from exc

    def is_current(self, stored: str | None) -> bool:
        return stored is None or stored.startswith(f"{PREFIX}{self.current_id}:")


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def parse_keys(spec: str) -> KeyRing:
    """ENCRYPTION_KEYS, "id:base64key,id:base64key", as a KeyRing (the first key is current)."""
    keys: list[tuple[str, bytes]] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID_PATTERN.match(key_id):
            raise EncryptionConfigError(
                "ENCRYPTION_KEYS entries read 'id:base64key' with an id of letters, digits, "
                "'_', '.' or '-'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise EncryptionConfigError(
                f"ENCRYPTION_KEYS: key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise EncryptionConfigError(
                f"ENCRYPTION_KEYS: key {key_id!r} is {len(key)} bytes, AES-256 needs {KEY_BYTES}")
        if any(key_id == known for known, _ in keys):
            raise EncryptionConfigError(f"ENCRYPTION_KEYS: key id {key_id!r} appears twice")
        keys.append((key_id, key))
    if not keys:
        raise EncryptionConfigError("ENCRYPTION_KEYS is set but holds no key")
    return KeyRing(tuple(keys))


def derive_key(secret_key: str) -> tuple[str, bytes]:
    """The key (and its id) that development and tests use: HKDF-SHA256 over SECRET_KEY."""
    def hkdf(info: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT,
                    info=info).derive(secret_key.encode("utf-8"))
    return "sk-" + hkdf(HKDF_INFO_ID, 4).hex(), hkdf(HKDF_INFO_KEY, KEY_BYTES)


@functools.lru_cache(maxsize=16)
def _ring(spec: str | None, secret_key: str | None) -> KeyRing:
    if spec and spec.strip():
        return parse_keys(spec)
    if not secret_key:
        raise EncryptionConfigError("set ENCRYPTION_KEYS (or at least SECRET_KEY in development)")
    return KeyRing((derive_key(secret_key),))


def keyring(config=None) -> KeyRing:
    """The key ring of the given config (the current app's by default)."""
    config = current_app.config if config is None else config
    return _ring(config.get("ENCRYPTION_KEYS"), config.get("SECRET_KEY"))


def encrypt(plaintext: str) -> str:
    from app.core.key_check import refuse_writes_if_keys_mismatch

    refuse_writes_if_keys_mismatch(current_app)
    return keyring().encrypt(plaintext)


def decrypt(stored: str) -> str:
    return keyring().decrypt(stored)


def key_check_problem() -> str | None:
    """Why the current app's keys do not match the data (None when they do), for /readyz."""
    from app.core.key_check import current_problem

    return current_problem(current_app)


def error_id(stored: str) -> str:
    """A short id for a stored value that cannot be read: the same value always gets the same id,
    so the one a person quotes from her page is the one `flask verify-data` prints next to the
    row (a hash of the ciphertext: it tells nothing about the text)."""
    return hashlib.sha256(stored.encode("utf-8")).hexdigest()[:10]


# --- what a reader sees of a value that cannot be decrypted ---------------------------------

class Unreadable(str):
    """The placeholder sentence shown in place of a stored value the keys cannot decrypt. It
    carries that stored value: written back through a column type (a note copied into its
    revision, a row flushed whole) it stores the same ciphertext again, never the sentence."""

    def __new__(cls, stored: str, error: str):
        self = super().__new__(cls, UNREADABLE_TEXT.format(error_id=error))
        self.stored, self.error_id = stored, error
        return self

    def __reduce__(self):
        return Unreadable, (self.stored, self.error_id)


class UnreadableDocument(list):
    """The same for an EncryptedJSON column (a reflection's answers): a list holding one
    placeholder answer, so that pages showing answers by index keep working."""

    def __init__(self, stored: str, error: str):
        super().__init__([Unreadable(stored, error)])
        self.stored, self.error_id = stored, error

    def __reduce__(self):
        return UnreadableDocument, (self.stored, self.error_id)


def _unreadable(column_type, stored: str, exc: Exception) -> str:
    error = error_id(stored)
    # The table and column, the error id and the reason (key ids only): never a key, never text.
    log.error("cannot decrypt a value of %s (error %s): %s",
              getattr(column_type, "column_name", "an encrypted column"), error, exc)
    return error


# --- column types ---------------------------------------------------------------------------

class _NoComparison(sa.types.TypeDecorator.Comparator):
    """Every encryption uses a fresh nonce, so SQL comparisons on these columns could never
    match: refuse them loudly instead of returning nothing (IS NULL still works)."""

    def operate(self, op, *other, **kwargs):
        if op in (operators.is_, operators.is_not):
            return super().operate(op, *other, **kwargs)
        raise NotImplementedError(
            f"{self.expr} is encrypted: SQL cannot compare, sort or search it")

    def reverse_operate(self, op, other, **kwargs):
        return self.operate(op, other, **kwargs)


class EncryptedText(sa.types.TypeDecorator):
    """Text encrypted with the current key on the way in, decrypted on the way out."""

    impl = sa.Text
    cache_ok = True
    comparator_factory = _NoComparison

    column_name = "an encrypted column"  # "table.column", set when the column joins its table

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, Unreadable):
            return value.stored  # never the placeholder in place of the text it stands for
        if not isinstance(value, str):
            raise TypeError(f"{type(self).__name__} stores str, not {type(value).__name__}")
        return encrypt(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return decrypt(value)
        except DecryptionError as exc:
            return Unreadable(value, _unreadable(self, value, exc))


class EncryptedJSON(EncryptedText):
    """A JSON document (lists, dicts, ...) stored as encrypted JSON text."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, UnreadableDocument):
            return value.stored
        return encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return json.loads(decrypt(value))
        except (DecryptionError, ValueError) as exc:  # ValueError: decrypted, but not JSON
            return UnreadableDocument(value, _unreadable(self, value, exc))


@sa.event.listens_for(sa.Column, "after_parent_attach")
def _name_encrypted_column(column, table) -> None:
    """Give an encrypted column's type its "table.column", for the log line of a value it
    cannot read (a type does not otherwise know which column it serves)."""
    if isinstance(column.type, EncryptedText) and isinstance(table, sa.Table):
        column.type.column_name = f"{table.name}.{column.name}"


def encrypted_columns(metadata: sa.MetaData) -> list[sa.Column]:
    """Every column of the models stored encrypted, in a stable order."""
    return [column for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedText)]


def init_app(app: Flask) -> None:
    """Check the keys at start (a bad ENCRYPTION_KEYS fails here, not at the first read) and
    register `flask rotate-key`."""
    from app.core.key_rotation import rotate_key_command

    keyring(app.config)
    app.cli.add_command(rotate_key_command)

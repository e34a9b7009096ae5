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
DecryptionError: never garbage, never the ciphertext in place of the text.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from dataclasses import dataclass

import click
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


class EncryptionConfigError(RuntimeError):
    """ENCRYPTION_KEYS (or the SECRET_KEY it falls back on) cannot give a usable key."""


class DecryptionError(RuntimeError):
    """A stored value says it is encrypted but cannot be decrypted with the configured keys."""


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
    return keyring().encrypt(plaintext)


def decrypt(stored: str) -> str:
    return keyring().decrypt(stored)


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

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{type(self).__name__} stores str, not {type(value).__name__}")
        return encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)


class EncryptedJSON(EncryptedText):
    """A JSON document (lists, dicts, ...) stored as encrypted JSON text."""

    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return encrypt(json.dumps(value, ensure_ascii=False))

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(decrypt(value))


def encrypted_columns(metadata: sa.MetaData) -> list[sa.Column]:
    """Every column of the models stored encrypted, in a stable order."""
    return [column for table in metadata.sorted_tables for column in table.columns
            if isinstance(column.type, EncryptedText)]


# --- flask rotate-key -----------------------------------------------------------------------

def rotate(metadata: sa.MetaData, engine: sa.Engine, ring: KeyRing, batch_size: int = 500,
           dry_run: bool = False, echo=click.echo) -> tuple[int, int]:
    """Re-encrypt every value not under the current key; returns (re-encrypted, already current).
    Works in batches of primary keys, one transaction each, so it can run beside the app and
    be run again after an interruption."""
    changed = current = 0
    for column in encrypted_columns(metadata):
        table = column.table
        (pk,) = table.primary_key.columns
        raw = sa.table(table.name, sa.column(pk.name, sa.Integer), sa.column(column.name, sa.Text))
        raw_pk, raw_value = raw.c[pk.name], raw.c[column.name]
        with engine.connect() as conn:
            total = conn.scalar(sa.select(sa.func.count()).select_from(raw))
        done = col_changed = 0
        last = None
        while True:
            with engine.begin() as conn:
                query = sa.select(raw_pk, raw_value).order_by(raw_pk).limit(batch_size)
                if last is not None:
                    query = query.where(raw_pk > last)
                rows = conn.execute(query).all()
                if not rows:
                    break
                last = rows[-1][0]
                stale = [(row_id, value) for row_id, value in rows if not ring.is_current(value)]
                # Decrypt even in a dry run: it proves that every old key is still configured.
                updates = [{"row_id": row_id, "old": value,
                            "new": ring.encrypt(ring.decrypt(value))} for row_id, value in stale]
                if updates and not dry_run:
                    # Compare-and-set on the old value: a row the app rewrote meanwhile (already
                    # under the current key) is left alone.
                    conn.execute(
                        raw.update().where(raw_pk == sa.bindparam("row_id"),
                                           raw_value == sa.bindparam("old"))
                        .values({column.name: sa.bindparam("new")}), updates)
                done += len(rows)
                col_changed += len(stale)
                current += len(rows) - len(stale)
            echo(f"  {table.name}.{column.name}: {done}/{total} rows checked, "
                 f"{col_changed} {'to re-encrypt' if dry_run else 're-encrypted'}")
        changed += col_changed
    return changed, current


@click.command("rotate-key")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--dry-run", is_flag=True, help="Only count the values not under the current key.")
def rotate_key_command(batch_size: int, dry_run: bool):
    """Re-encrypt every encrypted value with the current (first) key of ENCRYPTION_KEYS."""
    from app.extensions import db

    ring = keyring()
    click.echo(f"{'Checking' if dry_run else 'Re-encrypting'} with current key {ring.current_id!r}")
    try:
        changed, current = rotate(db.metadata, db.engine, ring, batch_size=batch_size,
                                  dry_run=dry_run)
    except DecryptionError as exc:
        raise click.ClickException(
            f"{exc}. Values re-encrypted so far stay readable; add the key that wrote this one "
            "to ENCRYPTION_KEYS, after the current one, and run rotate-key again.") from exc
    if dry_run:
        click.echo(f"{changed} values would be re-encrypted; {current} are already current.")
    else:
        click.echo(f"Done: {changed} values re-encrypted, {current} were already current. "
                   "Keys other than the first can now be removed from ENCRYPTION_KEYS.")


def init_app(app: Flask) -> None:
    """Check the keys at start (a bad ENCRYPTION_KEYS fails here, not at the first read) and
    register `flask rotate-key`."""
    keyring(app.config)
    app.cli.add_command(rotate_key_command)

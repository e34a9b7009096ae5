"""encryption at rest: the therapist's note on a task

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27

assignments.note is the therapist's free text to her client on a task; on a pair exercise the
same note is copied onto each member's task (pair_exercises holds no note of its own), so this
one column covers both. It stays TEXT: upgrade encrypts every existing value with the current
key, downgrade decrypts them (with any configured key). As in 0006, the value format and the key
rules are copied from app/crypto.py on purpose, so that this revision never imports application
code: `enc:v1:<key id>:<base64 of nonce + AES-256-GCM ciphertext and tag>`, the header as
associated data; keys from ENCRYPTION_KEYS ("id:base64key,...", the first encrypts) or, when it is
unset, one derived from SECRET_KEY with HKDF-SHA256, read from the Flask config that
`flask db upgrade` runs under. Values already encrypted (or already plain, going down) are left
alone, so an interrupted run can simply be started again.
"""
import base64
import binascii
import os
import re

from alembic import context, op
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {}  # nothing: it decrypts the notes in place

ENCRYPTED_COLUMNS = (
    ("assignments", "note"),
)
BATCH_SIZE = 500
PREFIX = "enc:v1:"
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
HKDF_SALT = b"common-ground/encryption-at-rest"
HKDF_INFO_KEY = b"common-ground data key v1"
HKDF_INFO_ID = b"common-ground data key id v1"


# --- keys and values, as app/crypto.py had them when this revision was written ----------------

def _keys():
    """[(key id, AESGCM)], the current key first."""
    spec = (current_app.config.get("ENCRYPTION_KEYS") or "").strip()
    keys = []
    if spec:
        for entry in (part.strip() for part in spec.split(",")):
            if not entry:
                continue
            key_id, sep, encoded = entry.partition(":")
            if not sep or not KEY_ID_PATTERN.match(key_id):
                raise RuntimeError("ENCRYPTION_KEYS entries read 'id:base64key'")
            try:
                key = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise RuntimeError(f"ENCRYPTION_KEYS: key {key_id!r} is not valid base64") from None
            if len(key) != 32:
                raise RuntimeError(f"ENCRYPTION_KEYS: key {key_id!r} is not 32 bytes")
            keys.append((key_id, AESGCM(key)))
    else:
        secret = current_app.config.get("SECRET_KEY")
        if not secret:
            raise RuntimeError("set ENCRYPTION_KEYS (or at least SECRET_KEY in development)")

        def hkdf(info, length):
            return HKDF(algorithm=hashes.SHA256(), length=length, salt=HKDF_SALT,
                        info=info).derive(secret.encode("utf-8"))
        keys.append(("sk-" + hkdf(HKDF_INFO_ID, 4).hex(), AESGCM(hkdf(HKDF_INFO_KEY, 32))))
    if not keys:
        raise RuntimeError("ENCRYPTION_KEYS is set but holds no key")
    return keys


def _encrypter(keys):
    key_id, cipher = keys[0]
    header = f"{PREFIX}{key_id}"

    def encrypt(value):
        if value.startswith(PREFIX):
            return value  # already encrypted (an interrupted run started again)
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, value.encode("utf-8"), header.encode("ascii"))
        return f"{header}:{base64.b64encode(nonce + sealed).decode('ascii')}"
    return encrypt


def _decrypter(keys):
    ciphers = dict(keys)

    def decrypt(value):
        if not value.startswith(PREFIX):
            return value  # plain already
        key_id, _, payload = value[len(PREFIX):].partition(":")
        if key_id not in ciphers:
            raise RuntimeError(f"a value is encrypted with key {key_id!r}, which is not in "
                               "ENCRYPTION_KEYS: add it before downgrading")
        try:
            raw = base64.b64decode(payload, validate=True)
            opened = ciphers[key_id].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                             f"{PREFIX}{key_id}".encode("ascii"))
        except (InvalidTag, binascii.Error, ValueError):
            raise RuntimeError(f"a value under key {key_id!r} does not decrypt") from None
        return opened.decode("utf-8")
    return decrypt


def _rewrite_all(transform):
    """Apply `transform` to every non-null value of every column above, in id batches."""
    bind = op.get_bind()
    for table_name, column_name in ENCRYPTED_COLUMNS:
        table = sa.table(table_name, sa.column("id", sa.Integer), sa.column(column_name, sa.Text))
        value_column = table.c[column_name]
        update = (table.update().where(table.c.id == sa.bindparam("row_id"))
                  .values({column_name: sa.bindparam("new_value")}))
        last_id = None
        while True:
            query = sa.select(table.c.id, value_column).order_by(table.c.id).limit(BATCH_SIZE)
            if last_id is not None:
                query = query.where(table.c.id > last_id)
            rows = bind.execute(query).all()
            if not rows:
                break
            last_id = rows[-1][0]
            changes = []
            for row_id, value in rows:
                if value is not None:
                    new_value = transform(value)
                    if new_value != value:
                        changes.append({"row_id": row_id, "new_value": new_value})
            if changes:
                bind.execute(update, changes)


def upgrade():
    if context.is_offline_mode():
        raise RuntimeError("0010 encrypts existing rows and cannot run in --sql (offline) mode")
    _rewrite_all(_encrypter(_keys()))


def downgrade():
    if context.is_offline_mode():
        raise RuntimeError("0010 decrypts existing rows and cannot run in --sql (offline) mode")
    _rewrite_all(_decrypter(_keys()))

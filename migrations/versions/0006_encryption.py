"""encryption at rest: reflections.answers becomes text, free text is encrypted

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

Upgrade encrypts every existing value of the columns below with the current key; downgrade
decrypts them (and turns reflections.answers back into JSON). The value format and the key rules
are copied here from app/crypto.py on purpose, so that this revision never imports application
code: `enc:v1:<key id>:<base64 of nonce + AES-256-GCM ciphertext and tag>`, the header as
associated data; keys from ENCRYPTION_KEYS ("id:base64key,...", the first encrypts) or, when it is
unset, one derived from SECRET_KEY with HKDF-SHA256. Both are read from the Flask config that
`flask db upgrade` runs under. Rows already encrypted are left alone, so a run that was
interrupted can simply be started again.

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
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# What this revision's downgrade removes: migrations/env.py counts it, says what would be lost and
# asks before a downgrade drops data (README.md, "Upgrades and downgrades").
DOWNGRADE_DROPS = {}  # nothing: it decrypts every value in place

ENCRYPTED_COLUMNS = (
    ("reflections", "answers"),
    ("addenda", "body"),
    ("feedback", "body"),
    ("private_annotations", "body"),
    ("session_notes", "body"),
    ("session_note_revisions", "body"),
    ("clinical_notes", "body"),
    ("clinical_note_revisions", "body"),
    ("session_comments", "body"),
    ("agenda_items", "body"),
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
        raw = base64.b64decode(payload, validate=True)
        try:
            opened = ciphers[key_id].decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                             f"{PREFIX}{key_id}".encode("ascii"))
        except InvalidTag:
            raise RuntimeError(f"a value under key {key_id!r} does not decrypt") from None
        return opened.decode("utf-8")
    return decrypt


def _rewrite_all(transform):
    """Apply `transform` to every non-null value of every encrypted column, in id batches."""
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


# --- reflections.answers: JSON <-> TEXT -------------------------------------------------------

def _sqlite_foreign_keys(bind, on):
    """SQLite rebuilds the table to change a column's type, and dropping the old table with
    foreign keys on would first delete every row that cascades from it (addenda, feedback,
    private annotations). The pragma only takes effect outside a transaction, so commit first;
    on SQLite Alembic runs each revision in a transaction of its own and this one has written
    nothing that is not meant to stay."""
    dbapi_connection = bind.connection.dbapi_connection
    dbapi_connection.commit()
    dbapi_connection.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if dbapi_connection.execute("PRAGMA foreign_keys").fetchone()[0] != int(on):
        raise RuntimeError("could not switch SQLite foreign keys " + ("on" if on else "off"))


def _change_answers_type(old_type, new_type, using):
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.alter_column("reflections", "answers", existing_type=old_type, type_=new_type,
                        existing_nullable=False, postgresql_using=using)
        return
    _sqlite_foreign_keys(bind, False)
    try:
        with op.batch_alter_table("reflections", schema=None) as batch_op:
            batch_op.alter_column("answers", existing_type=old_type, type_=new_type,
                                  existing_nullable=False)
        problems = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"foreign keys broken after rebuilding reflections: {problems[:5]}")
    except BaseException:
        bind.connection.dbapi_connection.rollback()
        _sqlite_foreign_keys(bind, True)
        raise
    _sqlite_foreign_keys(bind, True)


def upgrade():
    if context.is_offline_mode():
        raise RuntimeError("0006 encrypts existing rows and cannot run in --sql (offline) mode")
    _change_answers_type(sa.JSON(), sa.Text(), "answers::text")
    _rewrite_all(_encrypter(_keys()))


def downgrade():
    if context.is_offline_mode():
        raise RuntimeError("0006 decrypts existing rows and cannot run in --sql (offline) mode")
    _rewrite_all(_decrypter(_keys()))
    _change_answers_type(sa.Text(), sa.JSON(), "answers::json")

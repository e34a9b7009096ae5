"""The backup file: a header line, a manifest line, then the database's own copy (the payload).

    COMMON-GROUND-BACKUP 2\\n
    {"backend": "sqlite", "payload_sha256": "...", "payload_size": 123, "key_ids": ["k1"], ...}\\n
    <payload_size bytes: the SQLite database file, or pg_dump's custom-format archive>

The checksum of the payload and the key ids its encrypted values use travel inside the file, so a
backup checks itself even without its record PATH.json beside it. A file written before this
format is a bare SQLite database or pg_dump archive, with no manifest: restore refuses it unless
told --allow-unverified (and then still decrypts every value before replacing anything).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import click

from app.ops.backup_files import PG_MAGIC, SQLITE_MAGIC, detect
from app.ops.backup_progress import Progress
from app.ops.backup_record import BACKENDS, RECORD_FORMAT

MAGIC = b"COMMON-GROUND-BACKUP "
FORMAT_VERSION = 2
PAYLOAD_MAGIC = {"sqlite": SQLITE_MAGIC, "postgresql": PG_MAGIC}
MAX_MANIFEST_BYTES = 1 << 20
CHUNK = 1 << 20


class Refused(click.ClickException):
    """A backup refused before anything was replaced: one line, and the promise that nothing changed."""

    def __init__(self, message: str):
        self.reason = " ".join(message.split())
        super().__init__(f"{self.reason} Nothing was changed.")


@dataclass(frozen=True)
class BackupFile:
    """A backup on disk: its kind, its manifest (None in a backup older than the manifest), and
    where its payload lies in the file."""

    path: Path
    kind: str
    manifest: dict | None
    offset: int
    size: int


def write(out: Path, manifest: dict, payload: Path, progress: Progress) -> dict:
    """Write header, manifest and `payload` to `out` (already created, private); returns the
    manifest completed with the payload's size and sha256."""
    digest, size = hashlib.sha256(), payload.stat().st_size
    with open(payload, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    manifest = {**manifest, "payload_size": size, "payload_sha256": digest.hexdigest()}
    line = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode("utf-8")
    done = 0
    with open(out, "wb") as target, open(payload, "rb") as source:
        target.write(MAGIC + str(FORMAT_VERSION).encode("ascii") + b"\n" + line + b"\n")
        for block in iter(lambda: source.read(CHUNK), b""):
            target.write(block)
            done += len(block)
            progress.update(done, size)
    progress.finish()
    return manifest


def _damaged(path: Path, what: str) -> Refused:
    return Refused(f"{path} is damaged: {what}.")


def _checked_manifest(path: Path, raw: bytes) -> dict:
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _damaged(path, "its manifest (the line after the header) is not readable") from None
    ok = (isinstance(manifest, dict) and manifest.get("format") == RECORD_FORMAT
          and manifest.get("backend") in BACKENDS
          and isinstance(manifest.get("payload_size"), int) and manifest["payload_size"] > 0
          and isinstance(manifest.get("payload_sha256"), str)
          and re.fullmatch(r"[0-9a-f]{64}", manifest["payload_sha256"])
          and isinstance(manifest.get("key_ids"), list) and all(isinstance(k, str) for k in manifest["key_ids"])
          and isinstance(manifest.get("encrypted_values"), int)
          and isinstance(manifest.get("tables"), dict)
          and all(isinstance(n, int) for n in manifest["tables"].values()))
    if not ok:
        raise _damaged(path, "its manifest lacks the checksum, the key ids or the row counts, or holds "
                             "values of the wrong kind")
    return manifest


def open_backup(path: Path) -> BackupFile | None:
    """The backup at `path`, its header and manifest read (check_length then compares them with the
    file); None when the file is no backup at all. An unreadable header is refused (Refused)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(len(MAGIC))
        if head != MAGIC:
            kind = detect(path)
            return None if kind is None else BackupFile(path, kind, None, 0, size)
        version = handle.readline(16).rstrip(b"\n")
        if not version.isdigit():
            raise _damaged(path, "its header line is not readable")
        if int(version) != FORMAT_VERSION:
            raise Refused(f"{path} is a backup in format {int(version)}, which this version of Common Ground "
                          f"does not read (it reads format {FORMAT_VERSION}).")
        raw = handle.readline(MAX_MANIFEST_BYTES)
        if not raw.endswith(b"\n"):
            raise _damaged(path, "it ends inside its manifest (truncated)" if handle.tell() == size
                           else "its manifest line is not readable")
        manifest = _checked_manifest(path, raw)
        offset = handle.tell()
    return BackupFile(path, manifest["backend"], manifest, offset, manifest["payload_size"])


def check_length(backup: BackupFile) -> None:
    """Refuse a backup whose data is shorter or longer than its manifest says, or does not start
    as the backend's copy does."""
    if backup.manifest is None:
        return
    held = backup.path.stat().st_size - backup.offset
    if held < backup.size:
        raise _damaged(backup.path, f"it is truncated, holding {held} of the {backup.size} bytes of data its "
                                    "manifest announces")
    if held > backup.size:
        raise _damaged(backup.path, f"it holds {held - backup.size} bytes more than its manifest announces")
    magic = PAYLOAD_MAGIC[backup.kind]
    with open(backup.path, "rb") as handle:
        handle.seek(backup.offset)
        if handle.read(len(magic)) != magic:
            raise _damaged(backup.path, f"its data is not the {BACKENDS[backup.kind]} copy its manifest announces")


def extract(backup: BackupFile, out: Path, progress: Progress) -> None:
    """Copy the payload to `out` (already created, private), checking it against the manifest's
    sha256 on the way: a mismatch is refused before the copy is used for anything."""
    digest, done = hashlib.sha256(), 0
    with open(backup.path, "rb") as source, open(out, "wb") as target:
        source.seek(backup.offset)
        while done < backup.size:
            block = source.read(min(CHUNK, backup.size - done))
            if not block:
                break
            digest.update(block)
            target.write(block)
            done += len(block)
            progress.update(done, backup.size)
        target.flush()
        os.fsync(target.fileno())
    progress.finish()
    if done != backup.size:
        raise _damaged(backup.path, f"it ended after {done} of {backup.size} bytes of data while being read")
    if backup.manifest is not None and digest.hexdigest() != backup.manifest["payload_sha256"]:
        raise _damaged(backup.path, "its data does not match the sha256 checksum in its manifest (altered "
                                    "or corrupted bytes)")

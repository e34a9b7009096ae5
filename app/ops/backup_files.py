"""The backup file on disk: private to its owner, flushed to disk, hashed, its kind told by its first bytes."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"


def create_private(path: Path) -> None:
    """An empty file only its owner may read: a backup holds mental-health records."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def fsync(path: Path) -> None:
    """Flush the file's contents to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256(path: Path) -> str:
    """The file's sha256, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def detect(path: Path) -> str | None:
    """"sqlite" or "postgresql" (a pg_dump archive) from the file's first bytes; None if neither."""
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    return None

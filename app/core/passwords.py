"""Password hashing (argon2id) and the password rules."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line and not line.startswith("#"))


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches. Pass None for an unknown account: the same work is done."""
    hasher = _hasher()
    try:
        if not password_hash:
            hasher.verify(_dummy_hash(hasher), password)
            return False
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY:
        _DUMMY[key] = hasher.hash("a password nobody has: common ground")
    return _DUMMY[key]


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """A sentence saying why this password is refused, or None when it is acceptable."""
    min_len = current_app.config["PASSWORD_MIN_LENGTH"]
    max_len = current_app.config["PASSWORD_MAX_LENGTH"]
    if len(password) < min_len:
        return f"Use at least {min_len} characters. A few words in a row make a good password."
    if len(password) > max_len:
        return f"Use at most {max_len} characters."
    lowered = password.lower()
    common = _common_passwords()
    stripped = re.sub(r"[\d\W_]+$", "", lowered)
    if lowered in common or (len(stripped) >= 4 and stripped in common and
                             len(stripped) < min_len):
        return "This password is on a list of very common passwords. Please choose another."
    if len(set(lowered)) <= 2:
        return "This password is too easy to guess. Please choose another."
    local_part = email.split("@", 1)[0].lower()
    if local_part and len(local_part) >= 4 and lowered.startswith(local_part):
        return "Your password should not start with your email address."
    return None

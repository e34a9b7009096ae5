"""A draft's version: what lets two tabs (or two devices) on one draft never overwrite each other.

The version is the draft's `draft_saved_at`, to the microsecond, written by every save and never
the same twice (a save in the same microsecond as the one before, or on a server whose clock is
behind, moves it on by one microsecond). The page holds the version it last saw and sends it with
every save; a save that names another version than the stored one changes nothing and is answered
with both texts (DraftConflict), and she chooses: hers, the other, or both joined.
A save that names no version at all (a page rendered before versions existed) is not checked.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from app.models import Reflection, utcnow

BOTH_MARK = "——— Also kept: the version saved from another tab or device ———"
RATING_FIELDS = ("resentment", "closeness", "stayed_present")


class DraftConflict(Exception):
    """The draft was saved elsewhere since the page last saw it; nothing was changed."""

    def __init__(self, current: Reflection):
        super().__init__("This draft was changed in another tab or on another device.")
        self.current = current


def version_of(reflection: Reflection | None) -> str:
    """The version a page is given ('' for a task with no saved draft yet)."""
    if reflection is None or reflection.draft_saved_at is None:
        return ""
    return reflection.draft_saved_at.isoformat()


def parse_version(version: str) -> datetime | None:
    """'' (no draft saved yet) is None; anything that is not a version the app gave raises
    ValueError (it can match no draft: the save is answered as a conflict)."""
    if version == "":
        return None
    parsed = datetime.fromisoformat(version)
    if parsed.tzinfo is None:
        raise ValueError("a version is timezone-aware")
    return parsed


def stored_is(version: str):
    """The SQL condition "the stored draft is still at `version`", for the conditional UPDATE
    that saves or sends it (a version the app never gave matches no draft)."""
    try:
        previous = parse_version(version)
    except ValueError:
        return sa.false()
    return (Reflection.draft_saved_at.is_(None) if previous is None
            else Reflection.draft_saved_at == previous)


def next_version(previous: datetime | None) -> datetime:
    """Now, or one microsecond after the version it replaces, whichever is later."""
    now = utcnow()
    if previous is not None and now <= previous:
        return previous + timedelta(microseconds=1)
    return now


def same_content(reflection: Reflection, answers: list[str], ratings: dict) -> bool:
    """Whether the stored draft already holds exactly this (a save that reached the server
    although its answer never reached the page, sent again)."""
    return (list(reflection.answers or []) == answers
            and all(getattr(reflection, name) == ratings.get(name) for name in RATING_FIELDS))


def join_texts(mine: str, theirs: str) -> str:
    """"Keep both": hers first, then the other, under a line that says where it came from."""
    if not theirs.strip() or theirs == mine:
        return mine
    if not mine.strip():
        return theirs
    return f"{mine.rstrip()}\n\n{BOTH_MARK}\n\n{theirs.lstrip()}"


def joined(current: Reflection, answers: list[str], ratings: dict) -> tuple[list[str], dict]:
    """Both versions in one: each answer joined, and each rating hers where she chose one."""
    stored = list(current.answers or [])
    texts = [join_texts(mine, stored[i] if i < len(stored) else "") for i, mine in enumerate(answers)]
    kept = {name: ratings.get(name) if ratings.get(name) is not None else getattr(current, name)
            for name in RATING_FIELDS}
    return texts, kept


def as_fields(reflection: Reflection, prompt_count: int) -> dict:
    """The stored draft as the form's fields ("answer_0" ... and the ratings, as strings)."""
    answers = list(reflection.answers or [])
    fields = {f"answer_{i}": answers[i] if i < len(answers) else "" for i in range(prompt_count)}
    for name in RATING_FIELDS:
        value = getattr(reflection, name)
        fields[name] = "" if value is None else str(value)
    return fields

"""Forms that create something are posted once, whatever happens to the answer.

The form carries a random key made when it is rendered (`OnceForm`, a hidden field that
`hidden_tag()` writes). The service that makes the thing asks `first_time(actor, key, action)`
before it writes: the key is then stored in the same transaction as the write, so it commits with
it or not at all. A second post with the same key (the "not saved yet" page sending again after a
commit that had in fact succeeded, a double click, a reload of the POST) finds it: the service
makes nothing and answers as the first did, from what `remember()` kept (the ids it made).

A post without a key (a page rendered before keys existed, a script of its own) is accepted and
simply not de-duplicated. Keys are per person: nobody can spend another person's key.
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import BadRequest
from wtforms import HiddenField

from app.extensions import db
from app.models import OnceKey, User, utcnow

_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def new_key() -> str:
    """A fresh key: 24 characters, 144 random bits."""
    return secrets.token_urlsafe(18)


class OnceField(HiddenField):
    """The one-time key. Rendered with the key that was posted (a form shown again after an
    error keeps its key: nothing was made yet), else with a new key at each rendering (a form
    drawn several times on one page gets one key per copy). Without an id: a page with several
    such forms would otherwise repeat id="once"."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("render_kw", {"id": False})
        super().__init__(label, validators, **kwargs)

    def _value(self):
        return self.data if usable(self.data) else new_key()


class OnceForm:
    """Mix into a form that creates something (before AppForm): `class X(OnceForm, AppForm)`."""

    once = OnceField()

    def once_key(self) -> str | None:
        """The key this post carries, or None (no key, or not one of ours: no de-duplication)."""
        return usable(self.once.data)


def usable(key) -> str | None:
    """The key if it has the shape of one this app makes, else None (treated as no key)."""
    return key if isinstance(key, str) and _SHAPE.fullmatch(key) else None


def first_time(actor: User, key: str | None, action: str) -> bool:
    """True the first time: the key is then stored in the caller's transaction (it commits with
    the write, or is rolled back with it). False when it was used before: make nothing. A post
    without a usable key is always a first time."""
    key = usable(key)
    if key is None:
        return True
    used = db.session.get(OnceKey, (actor.id, key))
    if used is not None:
        if used.action != action:  # another form's key (only a crafted post does this)
            raise BadRequest("This form's key was already used by another form. Reload the page.")
        return False
    try:
        with db.session.begin_nested():
            db.session.add(OnceKey(user_id=actor.id, key=key, action=action))
    except IntegrityError:
        # The same post, sent twice at the same moment: the other copy stored the key first
        # (PostgreSQL made this insert wait for its commit).
        return False
    return True


def remember(actor: User, key: str | None, **made) -> None:
    """Keep, with the key stored by first_time(), the ids the write made (same transaction)."""
    key = usable(key)
    row = db.session.get(OnceKey, (actor.id, key)) if key else None
    if row is not None:
        row.made = made


def earlier(actor: User, key: str | None) -> dict:
    """What the first post with this key made (remember()'s values); {} if it kept nothing."""
    key = usable(key)
    row = db.session.get(OnceKey, (actor.id, key)) if key else None
    return dict(row.made or {}) if row is not None else {}


KEPT_DAYS = 30  # a retry comes within minutes; a month is generous


def forget_old_keys(now=None) -> int:
    """Remove keys older than KEPT_DAYS (the daily purge-deleted run); returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=KEPT_DAYS)
    removed = db.session.execute(sa.delete(OnceKey).where(OnceKey.created_at < cutoff)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return removed

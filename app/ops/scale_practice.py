"""The practice seed-scale generates: therapists, clients, mother-daughter pairs and therapy sessions.

Every account shares one password (hashed once); therapists share one two-factor secret.
Homework comes from scale_homework.py, unit by unit, in between.
"""
from __future__ import annotations

import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import current_app

from app.core import passwords
from app.models import ROLE_CLIENT, ROLE_THERAPIST, utcnow
from app.ops.scale_homework import SPAN_DAYS, HomeworkSeeder, at, spread
from app.ops.scale_texts import AGENDA, CLINICAL, ENDINGS, SESSION_SUMMARIES
from app.ops.scale_writer import Writer

SCALE_PASSWORD = "scale: a calm walk 2026"
SCALE_TOTP_SECRET = "SCALECOMMONGROUNDBENCHTOTP234567"  # base32, every scale therapist's
SCALE_DOMAIN = "scale.example"
SUBMITTER_EMAIL = f"submitter@{SCALE_DOMAIN}"


class Seeder:
    """Generates the practice unit by unit (a pair or a single client), lazily."""

    def __init__(self, sizes: dict, rng: random.Random, writer: Writer):
        self.sizes, self.rng, self.w = sizes, rng, writer
        self.now = utcnow().replace(microsecond=0)
        zone = ZoneInfo(current_app.config["PRACTICE_TIMEZONE"])
        self.today = self.now.astimezone(zone).date()
        self.timezone = current_app.config["PRACTICE_TIMEZONE"]
        self.homework = HomeworkSeeder(sizes, rng, writer, self.now, self.today)
        self.password_hash = passwords.hash_password(SCALE_PASSWORD)

    # --- people ------------------------------------------------------------------------------

    def user(self, email, name, role, therapist_id=None, totp=False, created_days=400) -> int:
        """Queue one account; returns its id."""
        return self.w.add("users", {
            "email": email, "name": name, "role": role, "password_hash": self.password_hash,
            "therapist_id": therapist_id, "timezone": self.timezone,
            "created_at": self.now - timedelta(days=created_days), "closed_at": None,
            "email_notifications": False,
            "totp_secret": SCALE_TOTP_SECRET if totp else None,
            "totp_enabled_at": self.now - timedelta(days=created_days) if totp else None,
            "totp_last_step": None, "failed_logins": 0, "locked_until": None})

    def run(self) -> None:
        """Write the whole practice: the accounts first, then each unit's homework and sessions."""
        s = self.sizes
        therapists = [self.user(f"therapist{n}@{SCALE_DOMAIN}", f"Scale Therapist {n}",
                                ROLE_THERAPIST, totp=True, created_days=420)
                      for n in range(1, s["therapists"] + 1)]
        # Units: each pair first (two clients), then single clients; therapists in turn.
        units: list[list[int]] = [[2 * k, 2 * k + 1] for k in range(s["pairs"])]
        units += [[i] for i in range(2 * s["pairs"], s["clients"])]
        client_ids: list[int] = [0] * s["clients"]
        therapist_of: dict[int, int] = {}
        for j, unit in enumerate(units):
            for i in unit:
                therapist_of[i] = therapists[j % len(therapists)]
                client_ids[i] = self.user(f"client{i + 1}@{SCALE_DOMAIN}", f"Scale Client {i + 1}",
                                          ROLE_CLIENT, therapist_of[i])
        submitter = None
        if s["submit_tasks"]:
            submitter = self.user(SUBMITTER_EMAIL, "Scale Submitter", ROLE_CLIENT, therapists[0])
        self.w.flush()

        for j, unit in enumerate(units):
            therapist = therapist_of[unit[0]]
            members = [(client_ids[i], i) for i in unit]
            pair_id = self.pair(therapist, [c for c, _ in members]) if len(unit) == 2 else None
            self.homework.for_unit(therapist, members, pair_id)
            self.sessions(therapist, [c for c, _ in members], pair_id,
                          spread(s["sessions"], len(units), j))
        if submitter is not None:
            self.homework.submit_tasks(therapists[0], submitter, s["submit_tasks"])
        self.w.flush()

    def pair(self, therapist: int, members: list[int]) -> int:
        """Link two clients as mother and daughter, both accepted; returns the pair's id."""
        linked = self.now - timedelta(days=SPAN_DAYS + 20)
        pair_id = self.w.add("pairs", {"therapist_id": therapist, "created_at": linked,
                                       "ended_at": None, "ended_by_id": None, "end_reason": None})
        for client, label in zip(members, ("mother", "daughter"), strict=False):
            self.w.add("pair_members", {"pair_id": pair_id, "user_id": client, "label": label,
                                        "accepted_at": linked + timedelta(hours=2)})
        return pair_id

    # --- sessions ----------------------------------------------------------------------------

    def sessions(self, therapist: int, members: list[int], pair_id: int | None, count: int) -> None:
        """Sessions over the last year; in a pair every third is with both, the others with one."""
        rng = self.rng
        for k in range(count):
            days = SPAN_DAYS - int((k + 0.5) * SPAN_DAYS / count) + rng.randint(-2, 2)
            starts = at(self.today - timedelta(days=max(days, 1)), rng.randint(8, 17))
            together = pair_id is not None and k % 3 == 0
            client = None if together else members[k % len(members)]
            session_id = self.w.add("therapy_sessions", {
                "therapist_id": therapist, "client_id": client,
                "pair_id": pair_id if together else None, "starts_at": starts,
                "duration_minutes": 75 if together else 50, "created_at": starts})
            written = starts + timedelta(hours=2)
            if rng.random() < 0.7:
                self.w.add("session_notes", {
                    "session_id": session_id, "kind": "shared", "author_id": therapist,
                    "visibility": "client", "body": rng.choice(SESSION_SUMMARIES), "version": 1,
                    "created_at": written, "updated_at": written})
            if together:
                for member in members:
                    if rng.random() < 0.3:
                        self.w.add("session_notes", {
                            "session_id": session_id, "kind": "member", "author_id": member,
                            "visibility": rng.choice(("pair", "therapist")),
                            "body": rng.choice(ENDINGS), "version": 1,
                            "created_at": written, "updated_at": written})
            if rng.random() < 0.4:
                self.w.add("clinical_notes", {"session_id": session_id, "therapist_id": therapist,
                                              "body": rng.choice(CLINICAL), "version": 1,
                                              "updated_at": written})
        for member in members:
            for n in range(rng.randint(0, 2)):
                created = self.now - timedelta(days=rng.randint(1, 60))
                self.w.add("agenda_items", {
                    "client_id": member, "therapist_id": therapist, "body": rng.choice(AGENDA),
                    "created_at": created,
                    "done_at": created + timedelta(days=3) if n == 1 else None})

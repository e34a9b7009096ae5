"""Demo data: two therapists, each with a mother–daughter pair and one individual client."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app import passwords
from app.extensions import db
from app.models import ROLE_CLIENT, ROLE_THERAPIST, User

DEMO_PASSWORD = "common-ground-demo"


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    role: str
    therapist: str | None = None
    partner: str | None = None
    label: str = ""


DEMO_PEOPLE = [
    DemoPerson("ruth.alder@example.com", "Ruth Alder", ROLE_THERAPIST),
    DemoPerson("maria.lopez@example.com", "Maria Lopez", ROLE_CLIENT,
               "ruth.alder@example.com", "elena.lopez@example.com", "mother"),
    DemoPerson("elena.lopez@example.com", "Elena Lopez", ROLE_CLIENT,
               "ruth.alder@example.com", "maria.lopez@example.com", "daughter"),
    DemoPerson("jonah.price@example.com", "Jonah Price", ROLE_CLIENT, "ruth.alder@example.com"),
    DemoPerson("sam.okafor@example.com", "Sam Okafor", ROLE_THERAPIST),
    DemoPerson("helen.brooks@example.com", "Helen Brooks", ROLE_CLIENT,
               "sam.okafor@example.com", "clara.brooks@example.com", "mother"),
    DemoPerson("clara.brooks@example.com", "Clara Brooks", ROLE_CLIENT,
               "sam.okafor@example.com", "helen.brooks@example.com", "daughter"),
    DemoPerson("priya.nair@example.com", "Priya Nair", ROLE_CLIENT, "sam.okafor@example.com"),
]


def demo_present() -> bool:
    emails = [p.email for p in DEMO_PEOPLE]
    return db.session.scalar(sa.select(sa.func.count()).where(User.email.in_(emails))) == len(emails)


def database_empty() -> bool:
    return db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def seed_demo() -> int:
    """Create whatever demo accounts are missing; returns how many were created."""
    existing = {
        u.email: u for u in db.session.scalars(
            sa.select(User).where(User.email.in_([p.email for p in DEMO_PEOPLE]))
        )
    }
    password_hash = passwords.hash_password(DEMO_PASSWORD)
    created = 0
    for person in DEMO_PEOPLE:  # therapists come before their clients in the list
        if person.email in existing:
            continue
        therapist = existing.get(person.therapist) if person.therapist else None
        user = User(
            email=person.email, name=person.name, role=person.role,
            therapist_id=therapist.id if therapist else None,
            password_hash=password_hash,
        )
        db.session.add(user)
        db.session.flush()
        existing[person.email] = user
        created += 1
    db.session.commit()
    return created


def demo_logins() -> list[dict]:
    """The demo accounts, as printed by `flask seed-demo` (and its --json)."""
    return [
        {
            "email": p.email,
            "password": DEMO_PASSWORD,
            "role": p.role,
            "name": p.name,
            "therapist": p.therapist,
            "partner": p.partner,
            "relation": p.label or None,
        }
        for p in DEMO_PEOPLE
    ]

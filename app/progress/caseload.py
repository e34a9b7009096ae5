"""The therapist's caseload and her view of one client: each page is one call here, which
gathers what the page shows from the features that own it."""
from __future__ import annotations

from werkzeug.exceptions import Forbidden

from app import audit, policy
from app.accounts.invitations import invitation_link
from app.core.clock import today_for, zone_for
from app.extensions import db
from app.homework.review import review_counts
from app.homework.tasks import client_tasks
from app.models import Invitation, User
from app.notifications import outbox
from app.pairs.seeing import pairs_of
from app.progress.charts import ratings_chart, weekly_chart
from app.progress.dashboard import dashboard
from app.progress.services import progress_for, timeline
from app.therapy_sessions.coming_up import sessions_with_client, upcoming_for_therapist


def open_invitations(therapist: User) -> list[Invitation]:
    """Invitations not yet accepted or withdrawn (expired ones included, to resend)."""
    query = (
        policy.visible_invitations(therapist)
        .where(Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))
        .order_by(Invitation.created_at.desc())
    )
    return list(db.session.scalars(query))


def caseload_page(therapist: User, *, sort: str, query: str, attention: bool, page: int) -> dict:
    """Her home: the dashboard of her clients, what waits for review, her pairs, open invitations."""
    if not policy.is_therapist(therapist):
        raise Forbidden()
    return {
        "board": dashboard(therapist, today_for(therapist), sort=sort, query=query[:100],
                           attention=attention, page=page),
        "review_counts": review_counts(therapist),
        "pairs": pairs_of(therapist),
        "upcoming": upcoming_for_therapist(therapist),
        "invitations": (invitations := open_invitations(therapist)),
        "invitation_link": invitation_link,
        "invitation_emails": outbox.delivery_states("invitation", [i.email for i in invitations]),
    }


def client_page(therapist: User, client: User, page: int) -> dict:
    """One client as her therapist sees her: tasks, sessions, progress, timeline. Audited."""
    if not (policy.is_therapist(therapist) and policy.can_view_client(therapist, client)):
        raise Forbidden()
    audit.record_read(therapist, client, client, action="read_client_page")
    progress = progress_for(client, today_for(client), zone_for(client))
    return {
        "client": client,
        "pair": policy.open_pair_of(client),
        "tasks": client_tasks(therapist, client, max(page, 1)),
        "sessions": sessions_with_client(therapist, client),
        "today": today_for(therapist),
        "progress": progress,
        "ratings_svg": ratings_chart("ratings", progress),
        "weekly_svg": weekly_chart("weekly", progress),
        "timeline": timeline(therapist, client),
    }

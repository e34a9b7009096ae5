"""The audit trail as people read it: the therapist's page per client (newest first, filtered by
action and by day on her calendar, 50 a page, itself audited) and the client's own activity page
(who else opened her record and when, in plain words, never content)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from html import unescape

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AuditEvent, User
from tests.builders_homework import assign, submit
from tests.builders_pairs import link
from tests.conftest import login, make_client, make_therapist

CONTENT_SENTINEL = "AUDIT-PAGE-CONTENT-SENTINEL-51c0"


def add_event(action: str, subject: User | None, actor: User | None = None, at: datetime | None = None,
              ip: str | None = "192.0.2.1", object_type: str | None = None,
              object_id: int | None = None) -> AuditEvent:
    """An audit row written straight to the table (to control its time)."""
    event = AuditEvent(action=action, subject_id=subject.id if subject else None,
                       actor_id=actor.id if actor else None, at=at or datetime.now(timezone.utc),
                       ip=ip, object_type=object_type, object_id=object_id)
    db.session.add(event)
    db.session.commit()
    return event


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def trail_rows(html: str) -> list[list[str]]:
    """The table's rows as lists of cell texts."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.DOTALL)
    if body is None:
        return []
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.DOTALL):
        cells = re.findall(r"<td>(.*?)</td>", row, re.DOTALL)
        rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
    return rows


def activity_items(html: str) -> list[str]:
    match = re.search(r'<ul class="list activity">(.*?)</ul>', html, re.DOTALL)
    if match is None:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", li)).split())
            for li in re.findall(r"<li>(.*?)</li>", match.group(1), re.DOTALL)]


def new_rows(after_id: int) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEvent).where(AuditEvent.id > after_id)
                                   .order_by(AuditEvent.id)))


def last_id() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


@pytest.fixture
def practice(app):
    """Therapist T (in New York) with client C (in London) and C's pair partner P; T2 with C2."""
    t = make_therapist("Ruth", timezone="America/New_York")
    c = make_client(t, "Maria", timezone="Europe/London")
    p = make_client(t, "Elena", timezone="Europe/London")
    t2 = make_therapist("Sam")
    c2 = make_client(t2, "Priya")
    return dict(therapist=t, client=c, partner=p, other_therapist=t2, other_client=c2)


# --- the therapist's page -------------------------------------------------------------------

def test_the_therapist_reads_who_what_item_when_and_address_newest_first(app, client, practice):
    t, c, p = practice["therapist"], practice["client"], practice["partner"]
    # 15:00 UTC on 10 March 2024 is 11:00 in New York (daylight time began that morning).
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 10, 15, 0), ip="203.0.113.7",
              object_type="Reflection", object_id=41)
    add_event("read_partner_reflection", c, actor=p, at=utc(2024, 3, 12, 9, 30), ip="2001:db8::5",
              object_type="Reflection", object_id=42)
    add_event("sign_in", c, actor=c, at=utc(2024, 3, 11, 8, 0), ip="198.51.100.9")
    add_event("password_reset_requested", c, actor=None, at=utc(2024, 3, 9, 8, 0), ip="198.51.100.10")
    add_event("read_client_page", practice["other_client"], actor=practice["other_therapist"],
              at=utc(2024, 3, 11, 9, 0), ip="198.51.100.99")  # another client's: never shown
    login(client, t)

    response = client.get(f"/clients/{c.id}/audit")

    assert response.status_code == 200
    rows = trail_rows(response.get_data(as_text=True))
    assert [r[2] for r in rows] == ["Looked at this audit trail", "Pair partner read a shared reflection",
                                    "Signed in", "Read a reflection", "Asked for a password reset"]
    assert rows[1] == ["12 Mar 2024, 05:30:00", f"{p.name} (client)",
                       "Pair partner read a shared reflection", "Reflection 42", "2001:db8::5"]
    assert rows[2][1] == f"{c.name} (the client)"
    assert rows[3] == ["10 Mar 2024, 11:00:00", "You", "Read a reflection", "Reflection 41",
                       "203.0.113.7"]
    assert rows[4][1] == "nobody signed in"
    assert "198.51.100.99" not in response.get_data(as_text=True)


def test_reading_the_trail_is_itself_audited(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    login(client, t)
    before = last_id()

    client.get(f"/clients/{c.id}/audit", environ_base={"REMOTE_ADDR": "198.51.100.23"})

    [row] = new_rows(before)
    assert (row.actor_id, row.action, row.subject_id, row.object_type, row.object_id, row.ip) == \
        (t.id, "read_audit_trail", c.id, "User", c.id, "198.51.100.23")


@pytest.mark.parametrize("visitor, status", [("other_therapist", 404), ("client", 403),
                                             ("partner", 404), ("other_client", 404)])
def test_nobody_but_her_therapist_reads_the_trail_and_a_refusal_writes_no_row(app, client, practice,
                                                                             visitor, status):
    c = practice["client"]
    add_event("read_reflection", c, actor=practice["therapist"], ip="203.0.113.77")
    login(client, practice[visitor])
    before = last_id()

    response = client.get(f"/clients/{c.id}/audit")

    assert response.status_code == status
    assert "203.0.113.77" not in response.get_data(as_text=True)
    assert new_rows(before) == []


def test_the_trail_is_filtered_by_action(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    add_event("read_reflection", c, actor=t, ip="203.0.113.1")
    add_event("feedback_given", c, actor=t, ip="203.0.113.2")
    login(client, t)

    page = client.get(f"/clients/{c.id}/audit?action=feedback_given").get_data(as_text=True)

    assert [r[4] for r in trail_rows(page)] == ["203.0.113.2"]
    assert '<option value="feedback_given" selected>' in page
    assert '<option value="read_reflection" >' in page  # every action of her trail is a choice
    # An action that is not in her trail is ignored rather than trusted.
    everything = client.get(f"/clients/{c.id}/audit?action=no_such_action").get_data(as_text=True)
    assert {"203.0.113.1", "203.0.113.2"} <= {r[4] for r in trail_rows(everything)}


def test_the_date_range_is_read_on_the_therapists_calendar(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    # 03:30 UTC on 11 March is still 10 March (23:30) in New York.
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 9, 12, 0), ip="203.0.113.9")
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 11, 3, 30), ip="203.0.113.10")
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 11, 12, 0), ip="203.0.113.11")
    login(client, t)

    def addresses(query: str) -> list[str]:
        page = client.get(f"/clients/{c.id}/audit?action=read_reflection&{query}").get_data(as_text=True)
        return [r[4] for r in trail_rows(page)]

    assert addresses("from=2024-03-10&to=2024-03-10") == ["203.0.113.10"]
    assert addresses("from=2024-03-11") == ["203.0.113.11"]
    assert addresses("to=2024-03-10") == ["203.0.113.10", "203.0.113.9"]
    assert addresses("from=2024-03-11&to=2024-03-09") == ["203.0.113.11", "203.0.113.10", "203.0.113.9"]


@pytest.mark.parametrize("query, message", [
    ("from=yesterday", "The start date is not a date"),
    ("to=2024-02-30", "The end date is not a date"),
    ("from=2024-03-12&to=2024-03-01", "the dates were swapped"),
])
def test_a_malformed_date_is_left_out_with_a_message(app, client, practice, query, message):
    t, c = practice["therapist"], practice["client"]
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 5, 12, 0), ip="203.0.113.12")
    login(client, t)

    response = client.get(f"/clients/{c.id}/audit?{query}")

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in unescape(page)
    assert "203.0.113.12" in page


def test_the_trail_is_paged_fifty_at_a_time_and_the_pager_keeps_the_filter(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    start = utc(2024, 1, 1, 12, 0)
    db.session.add_all([AuditEvent(action="read_reflection", actor_id=t.id, subject_id=c.id,
                                   at=start + timedelta(hours=i), ip=f"10.0.{i // 250}.{i % 250}")
                        for i in range(120)])
    db.session.commit()
    login(client, t)

    first = client.get(f"/clients/{c.id}/audit?action=read_reflection").get_data(as_text=True)
    third = client.get(f"/clients/{c.id}/audit?action=read_reflection&page=3").get_data(as_text=True)
    beyond = client.get(f"/clients/{c.id}/audit?page=99999999999999999999")

    assert len(trail_rows(first)) == 50 and trail_rows(first)[0][4] == "10.0.0.119"
    assert len(trail_rows(third)) == 20 and trail_rows(third)[-1][4] == "10.0.0.0"
    assert "Page 1 of 3" in first
    assert re.search(r'href="/clients/%d/audit\?[^"]*action=read_reflection' % c.id, first)
    assert re.search(r'href="/clients/%d/audit\?[^"]*page=2' % c.id, first)
    assert beyond.status_code == 200


def test_the_client_page_links_to_the_trail_for_her_therapist(app, client, practice):
    c = practice["client"]
    login(client, practice["therapist"])
    page = client.get(f"/clients/{c.id}").get_data(as_text=True)
    assert f'href="/clients/{c.id}/audit"' in page


# --- the client's own page ------------------------------------------------------------------

def test_the_client_sees_who_else_opened_her_record_in_plain_words(app, client, practice):
    t, c, p = practice["therapist"], practice["client"], practice["partner"]
    link(t, c, p)
    add_event("read_reflection", c, actor=t, at=utc(2024, 3, 10, 15, 0))
    add_event("read_partner_reflection", c, actor=p, at=utc(2024, 3, 11, 18, 5))
    add_event("record_exported", c, actor=t, at=utc(2024, 3, 12, 9, 0))
    add_event("read_something_new", c, actor=t, at=utc(2024, 3, 13, 9, 0))
    login(client, c)

    items = activity_items(client.get("/account/activity").get_data(as_text=True))

    assert items[0].startswith(f"{t.name} (your therapist) proposed a pair link for you to accept or decline")
    assert items[1:] == [
        f"{t.name} (your therapist) opened part of your record 13 Mar 2024, 09:00",
        f"{t.name} (your therapist) downloaded a copy of your whole record 12 Mar 2024, 09:00",
        f"{p.name} (your daughter) read a reflection you shared 11 Mar 2024, 18:05",
        f"{t.name} (your therapist) read your reflection 10 Mar 2024, 15:00",
    ]


def test_the_client_does_not_see_her_own_actions_others_records_or_private_annotations(app, client,
                                                                                      practice):
    t, c = practice["therapist"], practice["client"]
    add_event("sign_in", c, actor=c)
    add_event("reflection_submitted", c, actor=c)
    add_event("annotation_added", c, actor=t)  # even that a private annotation exists stays private
    add_event("clinical_detail_changed", c, actor=t)  # an action nobody labelled for clients
    add_event("password_reset_requested", c, actor=None)
    add_event("read_reflection", practice["other_client"], actor=practice["other_therapist"])
    add_event("read_reflection", practice["partner"], actor=t)
    login(client, c)

    response = client.get("/account/activity")

    assert response.status_code == 200
    assert activity_items(response.get_data(as_text=True)) == []
    assert "nobody but you has opened or changed your record" in response.get_data(as_text=True)


def test_the_activity_page_shows_what_happened_never_what_was_read(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    task = assign(t, c, title="Walk by the sea")
    submit(c, task, answers=[CONTENT_SENTINEL])
    reader = app.test_client()
    login(reader, t)
    reflection_id = task.reflection.id
    assert reader.get(f"/reflections/{reflection_id}").status_code == 200
    login(client, c)

    page = client.get("/account/activity").get_data(as_text=True)

    assert f"{t.name} (your therapist) read your reflection" in " ".join(activity_items(page))
    assert CONTENT_SENTINEL not in page and "Walk by the sea" not in page


def test_the_activity_page_is_in_her_time_zone_and_paged(app, client, practice):
    t, c = practice["therapist"], practice["client"]
    c.timezone = "Asia/Tokyo"
    db.session.add_all([AuditEvent(action="read_client_page", actor_id=t.id, subject_id=c.id,
                                   at=utc(2024, 6, 1, 0, 0) + timedelta(minutes=i)) for i in range(60)])
    db.session.commit()
    login(client, c)

    first = client.get("/account/activity").get_data(as_text=True)
    second = client.get("/account/activity?page=2").get_data(as_text=True)

    assert len(activity_items(first)) == 50 and len(activity_items(second)) == 10
    assert activity_items(first)[0].endswith("1 Jun 2024, 09:59")  # 00:59 UTC is 09:59 in Tokyo
    assert "Page 1 of 2" in first


def test_clients_have_an_activity_link_and_therapists_do_not(app, client, practice):
    login(client, practice["client"])
    assert 'href="/account/activity"' in client.get("/home").get_data(as_text=True)
    therapist = app.test_client()
    login(therapist, practice["therapist"])
    assert 'href="/account/activity"' not in therapist.get("/caseload").get_data(as_text=True)
    assert therapist.get("/account/activity").status_code == 403


# --- the rules, cell by cell (as in test_policy.py) -----------------------------------------

@pytest.fixture
def world(app):
    from flask_login import AnonymousUserMixin

    from tests.world import build_world

    w = build_world()
    w["anonymous"] = AnonymousUserMixin()
    return w


# C's trail: only her own therapist reads it; C herself has her activity page instead.
AUDIT_RULE = dict(client=False, partner=False, same_therapist_client=False, therapist=True,
                  other_therapist=False, other_client=False, anonymous=False)
ACTIVITY_RULE = dict(client=True, partner=True, same_therapist_client=True, therapist=False,
                     other_therapist=False, other_client=True, anonymous=False)


def test_can_view_audit_of_cell_by_cell(world):
    from app import policy

    assert {actor: policy.can_view_audit_of(world[actor], world["client"])
            for actor in AUDIT_RULE} == AUDIT_RULE
    # Never of a therapist, nor by a therapist whose account is closed.
    assert not policy.can_view_audit_of(world["therapist"], world["therapist"])
    world["therapist"].closed_at = datetime.now(timezone.utc)
    assert not policy.can_view_audit_of(world["therapist"], world["client"])


def test_can_view_own_activity_cell_by_cell(world):
    from app import policy

    assert {actor: policy.can_view_own_activity(world[actor]) for actor in ACTIVITY_RULE} == ACTIVITY_RULE

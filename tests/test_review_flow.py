"""A faster review (issue 18, part 5), through HTTP: each row of the queue shows the first lines
(decrypted, cut at a word), the quick ratings and a pair badge, urgent first; the reading view
has Previous and Next within the queue; after feedback (or marking reviewed) Next takes her to
the next reflection waiting, and an empty queue says "All caught up"."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.homework.review_queue import PREVIEW_CHARS, READ_PREVIEW, first_lines
from app.models import AuditEvent, Feedback
from tests.builders_homework import assign, days_ago, submit
from tests.builders_pairs import flashes, give_to_pair, link, text_of
from tests.conftest import login, make_client

LONG = ("We sat in the car outside the bakery and neither of us said a word about Christmas, "
        "which felt like a small miracle after last year, and then she laughed at the dog "
        "TAIL-SENTINEL-3c9e")


def rows_of(html: str) -> list[str]:
    """Each <li> of the queue, as a reader sees it."""
    queue = re.search(r'<ul class="list queue">(.*?)</ul>', html, re.DOTALL)
    assert queue, "no queue list on the page"
    return [" ".join(re.sub(r"<[^>]+>", " ", li).split())
            for li in re.findall(r"<li>(.*?)</li>", queue.group(1), re.DOTALL)]


def link_of(html: str, marker: str) -> int | None:
    """The reflection a link marked `data-review-next` / `data-review-prev` goes to."""
    match = re.search(r'<a href="/reflections/(\d+)"[^>]*\b%s\b' % marker, html)
    return int(match.group(1)) if match else None


def test_first_lines_are_cut_at_a_word_on_one_line():
    assert first_lines(["", "  Two\n\nlines  "]) == "Two lines"  # the first answer written
    assert first_lines([]) == "" and first_lines(None) == "" and first_lines(["  "]) == ""
    cut = first_lines([LONG])
    assert cut.endswith("…") and len(cut) <= PREVIEW_CHARS + 1
    assert LONG.startswith(cut[:-1]) and LONG[len(cut) - 1] == " "  # whole words only
    assert first_lines(["x" * 500]) == "x" * PREVIEW_CHARS + "…"  # one endless word: cut anyway


def test_each_row_shows_first_lines_quick_ratings_and_a_pair_badge_urgent_first(client, people):
    ruth, maria = people["therapist"], people["client"]
    anna = make_client(ruth, "Anna")
    alone = submit(maria, assign(ruth, maria, title="On her own"), [LONG, "second"],
                   {"resentment": 7, "closeness": 2, "stayed_present": "partly"}, submitted_at=days_ago(3))
    _, tasks = give_to_pair(ruth, link(ruth, maria, anna))
    theirs = submit(anna, tasks[anna.id], ["", "Only the second answer."],
                    {"resentment": 1, "closeness": 9, "stayed_present": "yes"}, urgent=True,
                    submitted_at=days_ago(1))

    login(client, ruth)
    page = client.get("/review").get_data(as_text=True)
    first, second = rows_of(page)
    assert first.startswith("urgent pair") and anna.name in first  # urgent first, and a pair's
    assert f"with {maria.name} (mother)" in first and "Only the second answer." in first
    assert "Resentment 1 /10 Closeness 9 /10 Stayed present yes" in first
    assert "pair" not in second.split(maria.name)[0] and "On her own" in second
    assert first_lines([LONG]) in second and "TAIL-SENTINEL" not in page  # decrypted, cut
    assert "Resentment 7 /10 Closeness 2 /10 Stayed present partly" in second
    assert "waiting 3 days" in second
    # The first lines are her record: reading them is recorded, one row per reflection shown.
    read = set(db.session.execute(sa.select(AuditEvent.subject_id, AuditEvent.object_id)
                                  .where(AuditEvent.action == READ_PREVIEW, AuditEvent.actor_id == ruth.id)))
    assert read == {(maria.id, alone.id), (anna.id, theirs.id)}


def test_previous_and_next_follow_the_queue_and_never_leave_her_practice(client, people):
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    priya = people["other_client"]
    submit(priya, assign(people["other_therapist"], priya), submitted_at=days_ago(9))  # not hers
    old = submit(maria, assign(ruth, maria), submitted_at=days_ago(5))
    newer = submit(elena, assign(ruth, elena), submitted_at=days_ago(2))
    urgent = submit(elena, assign(ruth, elena), urgent=True, submitted_at=days_ago(1))

    login(client, ruth)
    pages = {r.id: client.get(f"/reflections/{r.id}").get_data(as_text=True) for r in (urgent, old, newer)}
    assert [(link_of(pages[r.id], "data-review-prev"), link_of(pages[r.id], "data-review-next"))
            for r in (urgent, old, newer)] == [(None, old.id), (urgent.id, newer.id), (old.id, None)]
    assert "2 of 3 waiting" in text_of_html(pages[old.id])
    assert 'id="review-keys-help"' in pages[old.id] and "js/review-keys.js" in pages[old.id]


def test_after_feedback_next_goes_to_the_next_waiting_then_all_caught_up(client, people):
    ruth, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    first = submit(maria, assign(ruth, maria, title="First one"), submitted_at=days_ago(4))
    second = submit(elena, assign(ruth, elena, title="Second one"), submitted_at=days_ago(3))
    third = submit(maria, assign(ruth, maria, title="Third one"), submitted_at=days_ago(2))

    login(client, ruth)
    # She starts in the middle: Next goes on down the queue, then back to the top.
    sent = client.post(f"/reflections/{second.id}/feedback", data={"body": "Thank you.", "mark_reviewed": "y"})
    after = client.get(sent.location)
    html = after.get_data(as_text=True)
    assert "Feedback sent." in " ".join(flashes(after))
    assert "Next reflection" in text_of(after) and link_of(html, "data-review-next") == third.id
    assert "1 of 2 waiting" not in text_of(after) and "2 waiting" in text_of(after)

    client.post(f"/reflections/{third.id}/reviewed")  # marking reviewed offers Next too
    after = client.get(f"/reflections/{third.id}")
    assert link_of(after.get_data(as_text=True), "data-review-next") == first.id
    assert "from the top of the queue" in text_of(after)

    sent = client.post(f"/reflections/{first.id}/feedback", data={"body": "Well seen.", "mark_reviewed": "y"})
    after = client.get(sent.location)
    assert "All caught up" in text_of(after) and link_of(after.get_data(as_text=True), "data-review-next") is None
    assert "All caught up" in text_of(client.get("/review"))
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(Feedback.reflection_id))) == sorted([first.id, second.id])


def text_of_html(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())

"""The privacy matrix for pair content, asserted through the HTTP layer.

Maria (mother) and Anna (daughter) are Ruth's clients; Elena is another client of Ruth's, Priya
a client of Sam's. Maria writes a reflection on a pair exercise whose answer holds WORDS; Ruth
answers it (FEEDBACK) and notes something for herself (ANNOTATION); Maria also keeps a DRAFT on
another task. For every state of sharing and of the pair, every actor opens every page of the
feature, and each sentinel must appear exactly where it is allowed and nowhere else.

States where an HTTP share is refused (pending link, safety family) or where the pair has ended
are then pushed further: `shared_at` is set straight in the database, as if a share had slipped
through, and the pages must still show nothing to anyone but the author and her therapist."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework import review as review_services
from app.models import Reflection, utcnow
from tests.builders_homework import assign, built_in, save_draft, submit
from tests.builders_pairs import (
    audit_count,
    flashes,
    force_pair_exercise,
    give_to_pair,
    link,
    signed_in,
    text_of,
)
from tests.conftest import make_client, make_therapist

WORDS = "SENTINEL-WORDS-5e1f"
FEEDBACK = "SENTINEL-FEEDBACK-0b7c"
ANNOTATION = "SENTINEL-ANNOTATION-3d9a"
DRAFT = "SENTINEL-DRAFT-8a2e"
SENTINELS = (WORDS, FEEDBACK, ANNOTATION, DRAFT)

STATES = ["private", "shared", "waiting", "revealed", "withdrawn", "left_by_author",
          "left_by_partner", "dissolved", "pending", "safety"]
# Where Anna (the partner) may read Maria's words.
PARTNER_READS = {"shared", "revealed"}
ACTORS = ["member", "partner", "same_therapist_client", "other_therapist_client",
          "own_therapist", "other_therapist", "anonymous"]


def _force_shared(reflection_id: int) -> None:
    db.session.execute(sa.update(Reflection).where(Reflection.id == reflection_id)
                       .values(shared_at=utcnow()))
    db.session.commit()


def _shared_at(reflection_id: int):
    db.session.expire_all()
    return db.session.get(Reflection, reflection_id).shared_at


def build(app, state: str) -> dict:
    """The practice in `state`, reached through HTTP wherever a person would act."""
    ruth = make_therapist("Ruth")
    maria, anna, elena = (make_client(ruth, n) for n in ("Maria", "Anna", "Elena"))
    sam = make_therapist("Sam")
    priya = make_client(sam, "Priya")
    exercise = built_in("safety" if state == "safety" else "stay_present")
    if state == "pending":
        # Maria has accepted, Anna not yet. The service refuses to give a pending pair an
        # exercise, so this one is written straight to the database: content that exists while
        # the link waits must still stay hidden from Anna.
        pair = link(ruth, maria, anna, accepted_by=("first",))
        _, tasks = force_pair_exercise(ruth, pair, exercise)
    else:
        pair = link(ruth, maria, anna)
        _, tasks = give_to_pair(ruth, pair, exercise,
                                reveal_together=state in ("waiting", "revealed"))
    maria_task, anna_task = tasks[maria.id], tasks[anna.id]
    reflection = submit(maria, maria_task, [WORDS])
    review_services.give_feedback(ruth, reflection, FEEDBACK, mark_reviewed=False)
    review_services.annotate(ruth, reflection, ANNOTATION)
    draft_task = assign(ruth, maria, due=3)
    draft = save_draft(maria, draft_task, [DRAFT])
    if state == "revealed":
        submit(anna, anna_task, ["Anna's own words."])
    elif state == "waiting":
        save_draft(anna, anna_task, ["Anna has started but not sent."])

    author = signed_in(app, maria)
    rid = reflection.id
    if state in ("pending", "safety"):
        response = author.post(f"/reflections/{rid}/share", follow_redirects=True)
        expected = ("once both of you have accepted the link" if state == "pending"
                    else "only ever for your therapist")
        assert any(expected in f for f in flashes(response)), flashes(response)
        assert _shared_at(rid) is None, "a refused share changed the reflection"
        _force_shared(rid)
    elif state != "private":
        response = author.post(f"/reflections/{rid}/share", follow_redirects=True)
        assert any(f"Shared with {anna.name}." in f for f in flashes(response)), flashes(response)
        assert _shared_at(rid) is not None
    if state == "withdrawn":
        author.post(f"/reflections/{rid}/unshare")
        assert _shared_at(rid) is None
    ender = {"left_by_author": (author, "leave"), "left_by_partner": (signed_in(app, anna), "leave"),
             "dissolved": (signed_in(app, ruth), "dissolve")}.get(state)
    if ender:
        browser, action = ender
        assert browser.post(f"/pairs/{pair.id}/{action}").status_code == 302
        assert _shared_at(rid) is None, "the share outlived the pair"
        _force_shared(rid)  # and even if it had, the ended pair gives no access

    return {
        "users": {"member": maria, "partner": anna, "same_therapist_client": elena,
                  "other_therapist_client": priya, "own_therapist": ruth, "other_therapist": sam,
                  "anonymous": None},
        "author_browser": author,
        "urls": {
            "reflection": f"/reflections/{rid}",
            "draft": f"/reflections/{draft.id}",
            "member_task": f"/tasks/{maria_task.id}",
            "draft_task": f"/tasks/{draft_task.id}",
            "partner_task": f"/tasks/{anna_task.id}",
            "shared": "/shared",
            "pair": f"/pairs/{pair.id}",
            "home": "/home",
        },
        "reflection_id": rid, "maria": maria, "anna": anna,
    }


def expected(state: str, actor: str, page: str, urls: dict):
    """(status, sentinels shown, or for a redirect the Location's path)."""
    if actor == "anonymous":
        return 302, "/login"
    reads = state in PARTNER_READS
    if actor == "member":
        return {
            "reflection": (302, urls["member_task"]),  # her own: back to her task page
            "draft": (302, urls["draft_task"]),
            "member_task": (200, {WORDS, FEEDBACK}),
            "draft_task": (200, {DRAFT}),
            "partner_task": (404, set()),
        }.get(page, (200, set()))
    if actor == "partner":
        return {
            "reflection": (200, {WORDS}) if reads else (404, set()),
            "partner_task": (200, {WORDS} if reads else set()),
            "shared": (200, {WORDS} if reads else set()),
            "pair": (200, set()),
            "home": (200, set()),
        }.get(page, (404, set()))
    if actor in ("same_therapist_client", "other_therapist_client"):
        return (200, set()) if page in ("shared", "home") else (404, set())
    if actor == "own_therapist":
        return {
            "reflection": (200, {WORDS, FEEDBACK, ANNOTATION}),
            "draft": (404, set()),  # drafts are the author's alone
            "member_task": (200, set()),
            "draft_task": (200, set()),
            "partner_task": (200, set()),
            "shared": (403, set()),
            "pair": (200, {WORDS}),
            "home": (403, set()),
        }[page]
    assert actor == "other_therapist"
    return (403, set()) if page in ("shared", "home") else (404, set())


@pytest.mark.parametrize("state", STATES)
def test_pair_privacy_matrix(app, state):
    world = build(app, state)
    urls = world["urls"]
    wrong = []
    for actor in ACTORS:
        browser = world["author_browser"] if actor == "member" else signed_in(app, world["users"][actor])
        for page, url in urls.items():
            response = browser.get(url)
            status, shown = expected(state, actor, page, urls)
            text = text_of(response)
            found = {s for s in SENTINELS if s in text or s in response.get_data(as_text=True)}
            if response.status_code != status:
                wrong.append(f"{actor} GET {page} ({url}): {response.status_code}, expected {status}")
                continue
            if status == 302:
                location = response.headers["Location"]
                if not location.split("?")[0].endswith(shown):
                    wrong.append(f"{actor} GET {page}: redirected to {location}, expected {shown}")
                continue
            if found != shown:
                wrong.append(f"{actor} GET {page} ({url}): shows {sorted(found)}, expected {sorted(shown)}")
    assert not wrong, f"state {state}:\n" + "\n".join(wrong)

    # Whatever Anna may read is labelled with whose words they are; reading it is audited.
    anna = signed_in(app, world["anna"])
    maria_name = world["maria"].name
    if state in PARTNER_READS:
        for url in (urls["reflection"], urls["shared"]):
            assert f"{maria_name}’s words (mother)" in text_of(anna.get(url))
        assert f"{maria_name}’s words" in text_of(anna.get(urls["partner_task"]))
        assert audit_count("read_partner_reflection", actor_id=world["anna"].id,
                           object_id=world["reflection_id"]) >= 3
    else:
        assert audit_count("read_partner_reflection", actor_id=world["anna"].id) == 0
    if state == "waiting":
        # Maria has sent and shared, Anna has not sent: it is Anna's turn (issue 14, defect 6)
        assert "Your turn." in text_of(anna.get(urls["partner_task"]))
        assert "your turn" in text_of(anna.get(urls["shared"]))
    else:
        assert "your turn" not in text_of(anna.get(urls["shared"])).lower()


def test_the_matrix_can_see_a_leak(app):
    """The matrix's own check: with a share in place, the partner's pages do carry the words
    (so an empty page elsewhere means hidden, not a broken page)."""
    world = build(app, "shared")
    anna = signed_in(app, world["anna"])
    for page in ("reflection", "partner_task", "shared"):
        assert WORDS in text_of(anna.get(world["urls"][page])), page

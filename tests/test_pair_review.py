"""The therapist's view of a pair task (issue 16, item 5), through HTTP: both members' answers
side by side while she reviews one (only what was sent: a draft of the other never shows, nor
whether one exists), feedback to one member or to both, and the pair's ratings gap over time
on the pair page."""
from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.homework.deletion import delete_reflection
from app.homework.tasks import cancel_assignment
from app.models import AuditEvent, Feedback, Notification, Reflection
from app.pairs import services as pair_services
from tests.builders_homework import assign, built_in, save_draft, submit
from tests.builders_pairs import audit_count, flashes, give_to_pair, link, signed_in, text_of
from tests.conftest import make_client, without_form_keys

MARIA_WORDS = "MARIA-SENT-ANSWER-4c1e"
ANNA_WORDS = "ANNA-SENT-ANSWER-9b2d"
ANNA_DRAFT = "ANNA-DRAFT-SENTINEL-77aa"
FEEDBACK_TEXT = "You both noticed the same evening. FEEDBACK-5e0f"


@pytest.fixture
def pair_world(app, people):
    """Ruth's clients Maria (mother) and Anna (daughter), linked; a growing-up exercise given
    to both (each in her own wording); Maria has sent hers and shared it with Anna."""
    ruth = people["therapist"]
    maria, anna = people["client"], make_client(ruth, "Anna")
    pair = link(ruth, maria, anna)
    pair_exercise, tasks = give_to_pair(ruth, pair, exercise=built_in("growing_up"))
    mine = submit(maria, tasks[maria.id], [MARIA_WORDS, "Maria's second answer."],
                  {"resentment": 7, "closeness": 3, "stayed_present": "partly"})
    pair_services.share(maria, mine)
    return {**people, "ruth": ruth, "maria": maria, "anna": anna, "pair": pair,
            "pair_exercise": pair_exercise, "tasks": tasks, "mine": mine}


def anna_sends(w, shared: bool = False) -> Reflection:
    theirs = submit(w["anna"], w["tasks"][w["anna"].id], [ANNA_WORDS, "Anna's second answer."],
                    {"resentment": 2, "closeness": 4, "stayed_present": "yes"})
    if shared:
        pair_services.share(w["anna"], theirs)
    return theirs


def review_page(app, w, reflection=None):
    return signed_in(app, w["ruth"]).get(f"/reflections/{(reflection or w['mine']).id}")


def post_feedback(browser, reflection, recipients: str | None, body: str = FEEDBACK_TEXT,
                  mark_reviewed: bool = True):
    data = {"body": body}
    if recipients is not None:
        data["recipients"] = recipients
    if mark_reviewed:
        data["mark_reviewed"] = "y"
    return browser.post(f"/reflections/{reflection.id}/feedback", data=data)


def section(html: str, css_class: str) -> str:
    match = re.search(rf'<section class="[^"]*\b{css_class}\b[^"]*".*?</section>', html, re.DOTALL)
    assert match, f"no section .{css_class} on the page"
    return match.group(0)


def feedback_rows() -> list[tuple[int, str]]:
    db.session.expire_all()
    return sorted((f.reflection_id, f.body) for f in db.session.scalars(sa.select(Feedback)))


def feedback_notices() -> list[tuple[int, str]]:
    db.session.expire_all()
    return sorted((n.user_id, n.link) for n in db.session.scalars(
        sa.select(Notification).where(Notification.kind == "new_feedback")))


# --- both answers side by side ---------------------------------------------------------------

def test_the_other_members_sent_reflection_shows_beside_it_question_by_question(app, pair_world):
    w = pair_world
    theirs = anna_sends(w)  # sent, kept private from Maria
    before = audit_count("read_reflection", object_id=theirs.id)

    response = review_page(app, w)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    side = section(html, "pair-review")
    page = text_of(response)

    # Question by question: each block holds Maria's answer, then Anna's, in two columns.
    assert 'class="side-by-side"' in side
    questions = [text_of_html(q) for q in side.split('<div class="pair-question">')[1:]]
    maria_prompts, anna_prompts = (w["tasks"][who.id].prompts for who in (w["maria"], w["anna"]))
    assert maria_prompts != anna_prompts  # the exercise words it for mother and for daughter
    assert len(questions) == len(maria_prompts) == len(anna_prompts)
    for question, mine, theirs_words, prompt_m, prompt_a in zip(
            questions, (MARIA_WORDS, "Maria's second answer."), (ANNA_WORDS, "Anna's second answer."),
            maria_prompts, anna_prompts, strict=False):
        assert question.index(prompt_m) < question.index(mine) < question.index(prompt_a) \
            < question.index(theirs_words), question
    # Who is who, and whether each shared hers with the other (the therapist reads both anyway).
    heads = section(html, "pair-review").split('<div class="side-by-side pair-heads">')[1]
    mine_head = text_of_html(re.search(r'<div class="side">(.*?)</div>', heads, re.DOTALL).group(1))
    their_head = text_of_html(re.search(r'<div class="side reveal-answer theirs">(.*?)</div>', heads,
                                        re.DOTALL).group(1))
    assert mine_head.startswith(f"{w['maria'].name} (mother)")
    assert mine_head.endswith(f"· shared with {w['anna'].name}")
    assert their_head.startswith(f"{w['anna'].name} (daughter)")
    assert f"· not shared with {w['maria'].name}" in their_head
    assert "sharing is between the two of them" in page

    # Both members' quick ratings and the gap.
    ratings = re.search(r'<table class="ratings-table">.*?</table>', side, re.DOTALL).group(0)
    rows = {re.sub(r"<[^>]+>", " ", r).split()[0]: " ".join(re.sub(r"<[^>]+>", " ", r).split())
            for r in re.findall(r"<tr>(.*?)</tr>", ratings.split("</thead>")[1], re.DOTALL)}
    assert rows["Resentment"] == "Resentment 7 2 5 wide gap"
    assert rows["Closeness"] == "Closeness 3 4 1"
    assert rows["Stayed"] == "Stayed present partly yes differs"

    # A link to review the other one, which opens her side by side in turn.
    assert f'href="/reflections/{theirs.id}"' in side
    other = text_of(review_page(app, w, theirs))
    assert ANNA_WORDS in other and MARIA_WORDS in other
    # Both reads are in the audit trail.
    assert audit_count("read_reflection", object_id=theirs.id, subject_id=w["anna"].id) == before + 2
    assert audit_count("read_reflection", object_id=w["mine"].id, subject_id=w["maria"].id) >= 2


@pytest.mark.parametrize("state", ["not_started", "draft", "cancelled", "removed"])
def test_a_draft_or_anything_unsent_of_the_other_never_shows(app, pair_world, state):
    w = pair_world
    anna_task = w["tasks"][w["anna"].id]
    empty = review_page(app, w).get_data(as_text=True)  # nothing of Anna's exists yet

    reflection = None
    if state == "draft":
        reflection = save_draft(w["anna"], anna_task, [ANNA_DRAFT], {"resentment": 9})
    elif state == "cancelled":
        reflection = save_draft(w["anna"], anna_task, [ANNA_DRAFT], {"resentment": 9})
        with app.test_request_context():
            cancel_assignment(w["ruth"], anna_task)
    elif state == "removed":
        reflection = anna_sends(w)
        with app.test_request_context():
            delete_reflection(w["ruth"], reflection)

    response = review_page(app, w)
    assert response.status_code == 200
    html, page = response.get_data(as_text=True), text_of(response)
    assert ANNA_DRAFT not in html and ANNA_WORDS not in html
    assert "pair-review" not in html  # no side by side: Maria's reflection stands alone
    note = text_of_html(section(html, "pair-note"))
    assert f"reflection: shared with {w['anna'].name}" in note
    assert "draft" not in page.lower()
    if state == "draft":
        # Not even its existence: the page is the one she saw before Anna started a draft.
        assert without_form_keys(html) == without_form_keys(empty)
    else:
        expected = {"not_started": "has not sent a reflection on this exercise yet",
                    "cancelled": "task on this exercise was cancelled",
                    "removed": "reflection on this exercise was removed"}[state]
        assert expected in note
    # "both" is offered, but cannot be chosen.
    assert re.search(r'<input[^>]*disabled[^>]*value="both"|<input[^>]*value="both"[^>]*disabled', html)
    if reflection is not None:
        assert audit_count("read_reflection", object_id=reflection.id) == 0


def test_a_task_given_to_one_client_has_no_pair_side_and_no_choice(app, pair_world):
    w = pair_world
    alone = submit(w["maria"], assign(w["ruth"], w["maria"], built_in("stay_present")), ["On my own."])
    html = review_page(app, w, alone).get_data(as_text=True)
    assert "Send this feedback to" not in html and "pair-note" not in html and "pair-review" not in html
    response = post_feedback(signed_in(app, w["ruth"]), alone, "both")
    assert response.status_code == 409 and "given to one client only" in text_of(response)
    assert feedback_rows() == [] and feedback_notices() == []


# --- feedback to one, or to both --------------------------------------------------------------

def test_feedback_goes_to_this_member_only_by_default(app, pair_world):
    w = pair_world
    theirs = anna_sends(w)
    html = review_page(app, w).get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="one"|<input[^>]*value="one"[^>]*checked', html)
    assert f"{w['maria'].name} only" in text_of_html(html)
    assert f"both {w['maria'].name} and {w['anna'].name}" in text_of_html(html)

    response = post_feedback(signed_in(app, w["ruth"]), w["mine"], None)
    assert response.status_code == 302
    assert feedback_rows() == [(w["mine"].id, FEEDBACK_TEXT)]
    assert feedback_notices() == [(w["maria"].id, f"/tasks/{w['mine'].assignment_id}")]
    assert FEEDBACK_TEXT not in text_of(signed_in(app, w["anna"]).get(f"/tasks/{theirs.assignment_id}"))


def test_feedback_to_both_lands_on_both_and_each_member_reads_it_under_her_own(app, pair_world):
    w = pair_world
    theirs = anna_sends(w)  # kept private from Maria
    ruth = signed_in(app, w["ruth"])
    page = ruth.get(f"/reflections/{w['mine'].id}").get_data(as_text=True)
    # The page warns that Anna's is not shared with Maria before she writes to both.
    assert f"{w['anna'].name}’s is not shared with {w['maria'].name}" in text_of_html(page)

    response = post_feedback(ruth, w["mine"], "both")
    assert response.status_code == 302
    assert "Feedback sent to both" in " ".join(flashes(ruth.get(response.location)))

    assert feedback_rows() == sorted([(w["mine"].id, FEEDBACK_TEXT), (theirs.id, FEEDBACK_TEXT)])
    # Each her own notification, saying nothing of what was written.
    notices = feedback_notices()
    assert notices == sorted([(w["maria"].id, f"/tasks/{w['mine'].assignment_id}"),
                              (w["anna"].id, f"/tasks/{theirs.assignment_id}")])
    db.session.expire_all()
    assert all(r.reviewed_at is not None for r in (db.session.get(Reflection, w["mine"].id),
                                                   db.session.get(Reflection, theirs.id)))
    for who, reflection in ((w["maria"], w["mine"]), (w["anna"], theirs)):
        assert audit_count("feedback_given", subject_id=who.id, object_id=reflection.id) == 1
        page = text_of(signed_in(app, who).get(f"/tasks/{reflection.assignment_id}"))
        assert FEEDBACK_TEXT in page
    # Feedback to both carries nothing of either reflection to the other member.
    maria_task = text_of(signed_in(app, w["maria"]).get(f"/tasks/{w['mine'].assignment_id}"))
    assert ANNA_WORDS not in maria_task
    # And Ruth reads her feedback under each reflection.
    assert FEEDBACK_TEXT in text_of(ruth.get(f"/reflections/{theirs.id}"))


@pytest.mark.parametrize("state", ["not_started", "draft", "removed"])
def test_feedback_to_both_is_refused_while_the_other_has_not_sent(app, pair_world, state):
    w = pair_world
    anna_task = w["tasks"][w["anna"].id]
    if state == "draft":
        save_draft(w["anna"], anna_task, [ANNA_DRAFT])
    elif state == "removed":
        with app.test_request_context():
            delete_reflection(w["ruth"], anna_sends(w))
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "feedback_given"))

    typed = "Words I took care over <keep> & more."
    response = post_feedback(signed_in(app, w["ruth"]), w["mine"], "both", body=typed)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert f"{w['anna'].name} has no sent reflection on this exercise" in text_of(response)
    assert "Words I took care over &lt;keep&gt; &amp; more." in html  # what she typed is kept
    assert ANNA_DRAFT not in html
    # The choice falls back to the one possible; nothing was written to anyone.
    assert re.search(r'<input[^>]*checked[^>]*value="one"|<input[^>]*value="one"[^>]*checked', html)
    assert feedback_rows() == [] and feedback_notices() == []
    db.session.expire_all()
    assert db.session.get(Reflection, w["mine"].id).reviewed_at is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "feedback_given")) == audit_before


@pytest.mark.parametrize("who", ["other_therapist", "maria", "anna", "other_client",
                                 "other_client_same_therapist", None])
def test_nobody_but_her_therapist_can_send_feedback_to_both(app, pair_world, who):
    w = pair_world
    theirs = anna_sends(w, shared=True)  # both shared: each member may read the other's
    browser = signed_in(app, w[who] if who else None)
    for reflection in (w["mine"], theirs):
        response = post_feedback(browser, reflection, "both")
        if who is None:
            assert response.status_code == 302 and "/login" in response.location
        elif w[who].id == reflection.author_id:
            assert response.status_code == 403, (who, "her own")
        else:  # another's practice, or the other member's (shared) reflection: not hers to review
            assert response.status_code == 404, (who, reflection.author_id)
    assert feedback_rows() == [] and feedback_notices() == []


# --- the ratings gap over time on the pair page ----------------------------------------------

def pair_page_ratings(app, w) -> tuple[str, dict]:
    response = signed_in(app, w["ruth"]).get(f"/pairs/{w['pair'].id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    card = re.search(r'<section class="card" aria-labelledby="ratings-heading">.*?</section>', html,
                     re.DOTALL).group(0)
    table = re.search(r"<table.*?</table>", card, re.DOTALL).group(0)
    header = text_of_html(re.search(r"<thead>(.*?)</thead>", table, re.DOTALL).group(1))
    lines = [[text_of_html(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
             for row in re.findall(r"<tr>(.*?)</tr>", table.split("</thead>")[1], re.DOTALL)]
    return text_of_html(card.split("<table")[0]), {"header": header, "lines": lines}


def both_send(w, family: str, maria: tuple[int, int], anna: tuple[int, int] | None):
    _, tasks = give_to_pair(w["ruth"], w["pair"], exercise=built_in(family))
    submit(w["maria"], tasks[w["maria"].id], ["m"],
           {"resentment": maria[0], "closeness": maria[1], "stayed_present": "yes"})
    if anna is not None:
        submit(w["anna"], tasks[w["anna"].id], ["a"],
               {"resentment": anna[0], "closeness": anna[1], "stayed_present": "no"})
    else:
        save_draft(w["anna"], tasks[w["anna"].id], [ANNA_DRAFT], {"resentment": 0, "closeness": 10})


def test_the_pair_page_shows_the_gap_per_exercise_and_how_it_narrowed(app, pair_world):
    w = pair_world
    anna_sends(w)  # growing up: resentment 7 / 2, closeness 3 / 4 -> gaps 5 and 1
    both_send(w, "stay_present", (6, 5), (2, 6))          # 4, 1
    both_send(w, "choose_battles", (5, 5), (4, 4))        # (Anna only a draft: no gap, not counted)
    w_unsent = built_in("change_dynamic")
    _, tasks = give_to_pair(w["ruth"], w["pair"], exercise=w_unsent)
    submit(w["maria"], tasks[w["maria"].id], ["m"], {"resentment": 1, "closeness": 9, "stayed_present": "yes"})
    save_draft(w["anna"], tasks[w["anna"].id], [ANNA_DRAFT], {"resentment": 10, "closeness": 0})
    both_send(w, "agree_to_disagree", (5, 6), (2, 5))     # 3, 1
    both_send(w, "idealisation", (4, 7), (2, 8))          # 2, 1

    summary, table = pair_page_ratings(app, w)
    assert table["header"].endswith("Gap")
    gaps = {line[0].split(" ")[0]: line[-1] for line in table["lines"]}
    by_title = {line[0]: line[-1] for line in table["lines"]}
    title = built_in("change_dynamic").title
    assert next(v for k, v in by_title.items() if k.startswith(title)) == "—"  # only one sent
    assert next(v for k, v in by_title.items() if k.startswith(built_in("growing_up").title)) == \
        "resentment 5, closeness 1 saw it differently"
    assert next(v for k, v in by_title.items() if k.startswith(built_in("idealisation").title)) == \
        "resentment 2, closeness 1"
    assert gaps  # every line has a gap cell
    # Five exercises both sent (gaps in resentment 5, 4, 1, 3, 2): the last four read 4 -> 2.
    assert ("The gap in resentment narrowed from 4 to 2 over the last 4 exercises both sent."
            in summary)
    assert "The gap in closeness stayed at 1 over the last 4 exercises both sent." in summary
    page = text_of(signed_in(app, w["ruth"]).get(f"/pairs/{w['pair'].id}"))
    assert ANNA_DRAFT not in page and "resentment 10" not in page


def test_the_trend_line_says_when_the_gap_widened_or_came_back(app, pair_world):
    w = pair_world
    summary, _ = pair_page_ratings(app, w)  # only Maria has sent: no gap yet
    assert "once both have sent at least two pair exercises" in summary
    anna_sends(w)                                        # resentment gap 5, closeness gap 1
    both_send(w, "stay_present", (3, 5), (2, 9))         # 1, 4
    both_send(w, "choose_battles", (5, 5), (0, 3))       # 5, 2
    summary, _ = pair_page_ratings(app, w)
    assert ("The gap in resentment went between 1 and 5 and ended where it began, at 5, "
            "over the 3 exercises both sent." in summary)
    assert "The gap in closeness widened from 1 to 2 over the 3 exercises both sent." in summary


# --- valid HTML ------------------------------------------------------------------------------

def test_the_new_pages_are_valid_html(app, pair_world, tmp_path):
    from tests.test_html_valid import VNU_JAR, Page, _check, _missing

    if shutil.which("java") is None or not VNU_JAR.exists():
        _missing("the Nu HTML checker needs Java and vnu-jar (`npm ci`)")
    w = pair_world
    ruth = signed_in(app, w["ruth"])
    pages = [Page("pair note", 200, ruth.get(f"/reflections/{w['mine'].id}").get_data(as_text=True))]
    response = post_feedback(ruth, w["mine"], "both", body="Kept.")
    pages.append(Page("refused", response.status_code, response.get_data(as_text=True)))
    theirs = anna_sends(w)
    both_send(w, "stay_present", (6, 5), (2, 6))
    for reflection in (w["mine"], theirs):
        pages.append(Page(f"side by side {reflection.id}", 200,
                          ruth.get(f"/reflections/{reflection.id}").get_data(as_text=True)))
    pages.append(Page("pair page", 200, ruth.get(f"/pairs/{w['pair'].id}").get_data(as_text=True)))
    assert _check(pages, tmp_path) == []


def text_of_html(html: str) -> str:
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())

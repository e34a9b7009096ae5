"""The access rules of app/policy.py, cell by cell: self / her pair partner / another client of
the same therapist / own therapist / another therapist / another client / anonymous."""
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from app import policy
from app.extensions import db
from app.models import (
    Assignment,
    Exercise,
    Invitation,
    MessageThread,
    NoteDraft,
    NoteTemplate,
    PushSubscription,
    Reflection,
    User,
)
from tests.conftest import make_client
from tests.world import build_world

ACTORS = ["client", "partner", "same_therapist_client", "therapist", "other_therapist", "other_client",
          "anonymous"]


@pytest.fixture
def world(app):
    w = build_world()
    w["anonymous"] = AnonymousUserMixin()
    return w


def row(**cells):
    """One expected value per actor. The pair partner gets what another client of the same
    therapist gets unless the row names her (she sees only what C shares with her)."""
    cells.setdefault("partner", cells.get("same_therapist_client"))
    assert set(cells) == set(ACTORS), f"a row must name every actor: {sorted(set(ACTORS) ^ set(cells))}"
    return cells


NOBODY = row(client=False, same_therapist_client=False, therapist=False, other_therapist=False,
             other_client=False, anonymous=False)
ONLY_THE_THERAPIST = row(client=False, same_therapist_client=False, therapist=True, other_therapist=False,
                         other_client=False, anonymous=False)
EVERY_CLIENT = row(client=True, same_therapist_client=True, therapist=False, other_therapist=False,
                   other_client=True, anonymous=False)


# Objects a few rows need that the shared world does not hold, built only by the tests that ask.
def _pending_pair(world):
    """A link T proposed between C3 and a new client of hers: nobody has answered it yet."""
    from app.pairs.services import link_pair
    newcomer = make_client(world["therapist"], "Nadia")
    return link_pair(world["therapist"], world["same_therapist_client"], "sister", newcomer, "sister")


def _free_client(world):
    """Another open client of T, in no pair."""
    return make_client(world["therapist"], "Ines")


def _pair_exercise(world):
    """The exercise T gave C and P together: C has sent hers (and shares it), P not yet."""
    return world["shared_reflection"].assignment.pair_exercise


def _pair_exercise_both_sent(world):
    """The same exercise once P has sent hers too."""
    from app.homework.reflections import submit_reflection
    pair_exercise = _pair_exercise(world)
    task = next(t for t in pair_exercise.tasks if t.client_id == world["partner"].id)
    submit_reflection(world["partner"], task, ["My side."], {"resentment": 5, "closeness": 5,
                                                               "stayed_present": "yes"})
    return pair_exercise


def _shared_reflection_revealed(world):
    """C's shared reflection once P has sent hers too: the reveal is open to both."""
    _pair_exercise_both_sent(world)
    return world["shared_reflection"]


def _reply_revealed(world):
    """P's reply to C's answer, once the reveal is open."""
    _pair_exercise_both_sent(world)
    return world["reply"]


EXTRAS = {"pending_pair": _pending_pair, "free_client": _free_client, "pair_exercise": _pair_exercise,
          "pair_exercise_both_sent": _pair_exercise_both_sent,
          "shared_reflection_revealed": _shared_reflection_revealed, "reply_revealed": _reply_revealed}


# Secure messages: threads are made by their first message, so the world holds none until asked.
def _client_thread(world):
    """C's thread with T, with one message of C's."""
    from app.messages.threads import thread_with_client, write_message
    thread = thread_with_client(world["client"])
    write_message(world["client"], thread, "Hello.")
    return thread_with_client(world["client"])


def _unstored_client_thread(world):
    """C's thread before anyone has written in it (not stored yet): the same rules answer."""
    from app.messages.threads import thread_with_client
    return thread_with_client(world["client"])


def _pair_thread(world):
    """The thread of C and P (linked) with T, with one message of P's."""
    from app.messages.threads import thread_with_pair, write_message
    write_message(world["partner"], thread_with_pair(world["pair"]), "Hello both.")
    return thread_with_pair(world["pair"])


def _ended_pair_thread(world):
    """That thread once P has left the pair: closed to both members, kept for T."""
    from app.pairs.services import leave_pair
    thread = _pair_thread(world)
    leave_pair(world["partner"], world["pair"])
    return thread


def _pending_pair_thread(world):
    """The thread of a link nobody has answered yet (not stored: nobody can write in it)."""
    from app.messages.threads import thread_with_pair
    return thread_with_pair(_pending_pair(world))


def _closed_client_thread(world):
    """C's thread once her account is closed: T reads it, nobody writes in it."""
    from app.models import utcnow
    thread = _client_thread(world)
    world["client"].closed_at = utcnow()
    db.session.commit()
    return thread


def _reflection_with_feedback(world):
    """C's sent reflection once T has written feedback on it."""
    from app.homework.review import give_feedback
    give_feedback(world["therapist"], world["reflection"], "Well noticed.", mark_reviewed=True)
    return world["reflection"]


EXTRAS.update({"client_thread": _client_thread, "unstored_client_thread": _unstored_client_thread,
               "pair_thread": _pair_thread, "ended_pair_thread": _ended_pair_thread,
               "pending_pair_thread": _pending_pair_thread, "closed_client_thread": _closed_client_thread,
               "reflection_with_feedback": _reflection_with_feedback})


def _push_device(world):
    """A device C turned push on for."""
    from app.extensions import db
    device = PushSubscription(user_id=world["client"].id, endpoint="https://fcm.googleapis.com/fcm/send/policy",
                              p256dh="B" + "A" * 86, auth="A" * 22)
    db.session.add(device)
    db.session.commit()
    return device


EXTRAS["push_device"] = _push_device


# Sessions scheduled ahead: the world holds C's, a week ahead.
def _held_session(world):
    """C's session, once held (yesterday)."""
    from datetime import timedelta

    from app.models import utcnow
    world["session"].starts_at = utcnow() - timedelta(days=1)
    db.session.commit()
    return world["session"]


def _cancelled_session(world):
    """C's session a week ahead, once T cancelled it."""
    from app.therapy_sessions.schedule import cancel_session
    cancel_session(world["therapist"], world["upcoming_session"])
    return world["upcoming_session"]


def _closed_client(world):
    """A client of T whose account T closed."""
    from app.models import utcnow
    client = make_client(world["therapist"], "Olga")
    client.closed_at = utcnow()
    db.session.commit()
    return client


EXTRAS.update({"held_session": _held_session, "cancelled_session": _cancelled_session,
               "closed_client": _closed_client})


def _archived_exercise(world):
    """T's own exercise, archived: still hers to see, no longer to assign."""
    from app.models import utcnow
    world["own_exercise"].archived_at = utcnow()
    db.session.commit()
    return world["own_exercise"]


EXTRAS["archived_exercise"] = _archived_exercise


def _note_draft(world):
    """C's draft of a note of her own on the pair session (not added yet)."""
    from app.therapy_sessions.note_drafts import save_draft
    return save_draft(world["client"], world["pair_session"], "member", body="Half a note.",
                      sections=None, base_version=0, seen="")


EXTRAS["note_draft"] = _note_draft


def target(world, key):
    """The object a row asks about (built on first use when it is one of EXTRAS)."""
    if key not in world:
        world[key] = EXTRAS[key](world)
    return world[key]


MATRIX = [
    # (rule, object key, expected per actor); object key None: a rule about the person alone,
    # asked as rule(user).
    ("can_view_client", "client", row(client=True, same_therapist_client=False, therapist=True,
                                      other_therapist=False, other_client=False, anonymous=False)),
    # Psychotherapy notes in an export: her own therapist only, never the client herself.
    ("can_export_psychotherapy_notes", "client", row(client=False, same_therapist_client=False,
                                                     therapist=True, other_therapist=False,
                                                     other_client=False, anonymous=False)),
    ("can_manage_invitation", "invitation", row(client=False, same_therapist_client=False, therapist=True,
                                                other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_exercise", "built_in", row(client=False, same_therapist_client=False, therapist=True,
                                          other_therapist=True, other_client=False, anonymous=False)),
    ("can_view_exercise", "own_exercise", row(client=False, same_therapist_client=False, therapist=True,
                                              other_therapist=False, other_client=False, anonymous=False)),
    ("can_edit_exercise", "own_exercise", row(client=False, same_therapist_client=False, therapist=True,
                                              other_therapist=False, other_client=False, anonymous=False)),
    ("can_edit_exercise", "built_in", row(client=False, same_therapist_client=False, therapist=False,
                                          other_therapist=False, other_client=False, anonymous=False)),
    ("can_duplicate_exercise", "built_in", row(client=False, same_therapist_client=False, therapist=True,
                                               other_therapist=True, other_client=False, anonymous=False)),
    # Assign from the library: what she may see, unless archived (whom to: can_assign_to).
    ("can_assign_exercise", "built_in", row(client=False, same_therapist_client=False, therapist=True,
                                            other_therapist=True, other_client=False, anonymous=False)),
    ("can_assign_exercise", "own_exercise", ONLY_THE_THERAPIST),
    ("can_assign_exercise", "archived_exercise", NOBODY),
    ("can_assign_to", "client", row(client=False, same_therapist_client=False, therapist=True,
                                    other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_assignment", "open_task", row(client=True, same_therapist_client=False, therapist=True,
                                             other_therapist=False, other_client=False, anonymous=False)),
    ("can_manage_assignment", "open_task", row(client=False, same_therapist_client=False, therapist=True,
                                               other_therapist=False, other_client=False, anonymous=False)),
    ("can_cancel_assignment", "open_task", row(client=False, same_therapist_client=False, therapist=True,
                                               other_therapist=False, other_client=False, anonymous=False)),
    ("can_cancel_assignment", "submitted_task", row(client=False, same_therapist_client=False, therapist=False,
                                                    other_therapist=False, other_client=False, anonymous=False)),
    ("can_reopen_assignment", "open_task", row(client=False, same_therapist_client=False, therapist=False,
                                               other_therapist=False, other_client=False, anonymous=False)),
    ("can_write_reflection", "open_task", row(client=True, same_therapist_client=False, therapist=False,
                                              other_therapist=False, other_client=False, anonymous=False)),
    ("can_write_reflection", "submitted_task", row(client=False, same_therapist_client=False, therapist=False,
                                                   other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_reflection", "reflection", row(client=True, same_therapist_client=False, therapist=True,
                                              other_therapist=False, other_client=False, anonymous=False)),
    # A draft is the author's alone until she sends it.
    ("can_view_reflection", "draft", row(client=True, same_therapist_client=False, therapist=False,
                                         other_therapist=False, other_client=False, anonymous=False)),
    ("can_review_reflection", "reflection", row(client=False, same_therapist_client=False, therapist=True,
                                                other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_private_annotations", "reflection", row(client=False, same_therapist_client=False,
                                                       therapist=True, other_therapist=False,
                                                       other_client=False, anonymous=False)),
    # Soft delete: the client's therapist only; nothing is restorable until it is deleted.
    ("can_delete_task", "open_task", row(client=False, same_therapist_client=False, therapist=True,
                                         other_therapist=False, other_client=False, anonymous=False)),
    ("can_restore_task", "open_task", row(client=False, same_therapist_client=False, therapist=False,
                                          other_therapist=False, other_client=False, anonymous=False)),
    ("can_delete_reflection", "reflection", row(client=False, same_therapist_client=False, therapist=True,
                                                other_therapist=False, other_client=False, anonymous=False)),
    ("can_delete_reflection", "draft", row(client=False, same_therapist_client=False, therapist=False,
                                           other_therapist=False, other_client=False, anonymous=False)),
    ("can_delete_reflection", "shared_reflection", row(client=False, partner=False,
                                                       same_therapist_client=False, therapist=True,
                                                       other_therapist=False, other_client=False,
                                                       anonymous=False)),
    ("can_restore_reflection", "reflection", row(client=False, same_therapist_client=False, therapist=False,
                                                 other_therapist=False, other_client=False,
                                                 anonymous=False)),
    ("can_add_addendum", "reflection", row(client=True, same_therapist_client=False, therapist=False,
                                           other_therapist=False, other_client=False, anonymous=False)),
    ("can_mark_urgent", "reflection", row(client=True, same_therapist_client=False, therapist=False,
                                          other_therapist=False, other_client=False, anonymous=False)),
    # Pairs and sharing: the partner reads only what C shares with her.
    ("can_view_reflection", "shared_reflection", row(client=True, partner=True, same_therapist_client=False,
                                                     therapist=True, other_therapist=False,
                                                     other_client=False, anonymous=False)),
    ("partner_can_read", "shared_reflection", row(client=False, partner=True, same_therapist_client=False,
                                                  therapist=False, other_therapist=False,
                                                  other_client=False, anonymous=False)),
    ("partner_can_read", "reflection", row(client=False, partner=False, same_therapist_client=False,
                                           therapist=False, other_therapist=False, other_client=False,
                                           anonymous=False)),
    ("can_view_pair", "pair", row(client=True, partner=True, same_therapist_client=False, therapist=True,
                                  other_therapist=False, other_client=False, anonymous=False)),
    ("can_dissolve_pair", "pair", row(client=False, partner=False, same_therapist_client=False,
                                      therapist=True, other_therapist=False, other_client=False,
                                      anonymous=False)),
    ("can_leave_pair", "pair", row(client=True, partner=True, same_therapist_client=False, therapist=False,
                                   other_therapist=False, other_client=False, anonymous=False)),
    ("can_withdraw_share", "shared_reflection", row(client=True, partner=False, same_therapist_client=False,
                                                    therapist=False, other_therapist=False,
                                                    other_client=False, anonymous=False)),
    # Sessions: the clinical note is the therapist's alone, whatever else a client may see.
    ("can_view_session", "session", row(client=True, same_therapist_client=False, therapist=True,
                                        other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_session", "pair_session", row(client=True, partner=True, same_therapist_client=False,
                                             therapist=True, other_therapist=False, other_client=False,
                                             anonymous=False)),
    ("can_view_clinical_note", "session", row(client=False, same_therapist_client=False, therapist=True,
                                              other_therapist=False, other_client=False, anonymous=False)),
    ("can_view_clinical_note", "pair_session", row(client=False, partner=False, same_therapist_client=False,
                                                   therapist=True, other_therapist=False,
                                                   other_client=False, anonymous=False)),
    # C's member note is for the therapist only: her partner does not see it.
    ("can_view_session_note", "member_note", row(client=True, partner=False, same_therapist_client=False,
                                                 therapist=True, other_therapist=False,
                                                 other_client=False, anonymous=False)),
    ("can_edit_session_note", "member_note", row(client=True, partner=False, same_therapist_client=False,
                                                 therapist=False, other_therapist=False,
                                                 other_client=False, anonymous=False)),
    ("can_tick_agenda_item", "agenda_item", row(client=False, same_therapist_client=False, therapist=True,
                                                other_therapist=False, other_client=False,
                                                anonymous=False)),
    # --- Each value below comes from what the rule is for (DOMAIN.md), not from the code. ---
    # Invitations: every therapist invites new clients of her own; no client, nobody signed out.
    ("can_invite_clients", None, row(client=False, same_therapist_client=False, therapist=True,
                                     other_therapist=True, other_client=False, anonymous=False)),
    # Only an open task's due date moves, and only the therapist who gave it moves it.
    ("can_change_due_date", "open_task", ONLY_THE_THERAPIST),
    ("can_change_due_date", "submitted_task", NOBODY),
    # Consent: a member answers a link only while it waits for her (C and P both accepted theirs;
    # C3 has not yet answered T's proposal to link her with a new client).
    ("can_respond_to_pair", "pair", NOBODY),
    ("can_respond_to_pair", "pending_pair", row(client=False, partner=False, same_therapist_client=True,
                                                therapist=False, other_therapist=False,
                                                other_client=False, anonymous=False)),
    # One exercise for both: their therapist, once the link has taken effect.
    ("can_assign_to_pair", "pair", ONLY_THE_THERAPIST),
    ("can_assign_to_pair", "pending_pair", NOBODY),
    # Sharing is the author's choice, for a sent reflection not yet shared, while she is linked;
    # a draft is never shared, and nobody shares someone else's words.
    ("can_share_reflection", "reflection", row(client=True, partner=False, same_therapist_client=False,
                                               therapist=False, other_therapist=False,
                                               other_client=False, anonymous=False)),
    ("can_share_reflection", "shared_reflection", NOBODY),
    ("can_share_reflection", "draft", NOBODY),
    ("can_withdraw_share", "reflection", NOBODY),  # not shared: nothing to withdraw
    # A pair exercise: whoever may see the pair sees that it was given; its reveal opens for the
    # two members once both have sent theirs (the therapist reads both on the pair page).
    ("can_view_pair_exercise", "pair_exercise", row(client=True, partner=True, same_therapist_client=False,
                                                    therapist=True, other_therapist=False,
                                                    other_client=False, anonymous=False)),
    ("can_open_reveal", "pair_exercise", NOBODY),
    ("can_open_reveal", "pair_exercise_both_sent", row(client=True, partner=True, same_therapist_client=False,
                                                       therapist=False, other_therapist=False,
                                                       other_client=False, anonymous=False)),
    # After the reveal, a member answers the other's shared answers (never her own); both members
    # and their therapist read the replies; only the author changes (for ten minutes) or withdraws.
    ("can_reply_to", "shared_reflection", NOBODY),  # P has not sent: no reveal yet
    ("can_reply_to", "shared_reflection_revealed", row(client=False, partner=True,
                                                       same_therapist_client=False, therapist=False,
                                                       other_therapist=False, other_client=False,
                                                       anonymous=False)),
    ("can_view_reply", "reply", ONLY_THE_THERAPIST),  # before the reveal only the therapist
    ("can_view_reply", "reply_revealed", row(client=True, partner=True, same_therapist_client=False,
                                             therapist=True, other_therapist=False, other_client=False,
                                             anonymous=False)),
    ("can_edit_reply", "reply", NOBODY),
    ("can_edit_reply", "reply_revealed", row(client=False, partner=True, same_therapist_client=False,
                                             therapist=False, other_therapist=False, other_client=False,
                                             anonymous=False)),
    ("can_withdraw_reply", "reply_revealed", row(client=False, partner=True, same_therapist_client=False,
                                                 therapist=False, other_therapist=False,
                                                 other_client=False, anonymous=False)),
    # Sessions: the therapist records them with her own clients and with pairs whose link took
    # effect, and writes the shared notes; the people it was held with comment on it; a note of
    # one's own is for pair sessions.
    ("can_record_session_for", "client", ONLY_THE_THERAPIST),
    ("can_record_session_for", "pair", ONLY_THE_THERAPIST),
    ("can_record_session_for", "pending_pair", NOBODY),
    # Scheduling ahead: with her own open clients and linked pairs; moving or cancelling: her own
    # session while it is ahead and not cancelled. Her calendar feed: every therapist's own.
    ("can_schedule_session_for", "client", ONLY_THE_THERAPIST),
    ("can_schedule_session_for", "pair", ONLY_THE_THERAPIST),
    ("can_schedule_session_for", "pending_pair", NOBODY),
    ("can_schedule_session_for", "closed_client", NOBODY),
    ("can_change_scheduled_session", "upcoming_session", ONLY_THE_THERAPIST),
    ("can_change_scheduled_session", "held_session", NOBODY),
    ("can_change_scheduled_session", "cancelled_session", NOBODY),
    ("can_manage_calendar_feed", None, row(client=False, same_therapist_client=False, therapist=True,
                                           other_therapist=True, other_client=False, anonymous=False)),
    ("can_edit_shared_note", "session", ONLY_THE_THERAPIST),
    ("can_edit_shared_note", "pair_session", ONLY_THE_THERAPIST),
    ("can_comment_on_session", "session", row(client=True, same_therapist_client=False, therapist=False,
                                              other_therapist=False, other_client=False, anonymous=False)),
    ("can_comment_on_session", "pair_session", row(client=True, partner=True, same_therapist_client=False,
                                                   therapist=False, other_therapist=False,
                                                   other_client=False, anonymous=False)),
    ("can_add_member_note", "session", NOBODY),
    ("can_add_member_note", "pair_session", row(client=True, partner=True, same_therapist_client=False,
                                                therapist=False, other_therapist=False,
                                                other_client=False, anonymous=False)),
    # A therapist's own clinical note templates: hers alone (another therapist's are not).
    ("can_manage_note_template", "note_template", ONLY_THE_THERAPIST),
    # The agenda: every client keeps a list for her next session; an item is hers and her
    # therapist's to read (her pair partner's neither).
    ("can_add_agenda_item", None, EVERY_CLIENT),
    ("can_view_agenda_item", "agenda_item", row(client=True, same_therapist_client=False, therapist=True,
                                                other_therapist=False, other_client=False,
                                                anonymous=False)),
    # The audit trail: a client's trail is her own therapist's to read; each client reads who
    # opened her own record (her activity page). A notification is its recipient's alone.
    ("can_view_audit_of", "client", ONLY_THE_THERAPIST),
    ("can_view_own_activity", None, EVERY_CLIENT),
    ("can_open_notification", "notification", row(client=True, same_therapist_client=False, therapist=False,
                                                  other_therapist=False, other_client=False,
                                                  anonymous=False)),
]
# Secure messages: C's thread is hers and her therapist's (stored or not yet); a pair's thread its
# linked members' and their therapist's; an ended pair's thread only the therapist's to read, and
# nobody's to write in; a closed account gets no more messages. Only the author answers feedback,
# and only where there is feedback.
MESSAGE_CLIENT_THREAD = row(client=True, same_therapist_client=False, therapist=True, other_therapist=False,
                            other_client=False, anonymous=False)
MESSAGE_PAIR_THREAD = row(client=True, partner=True, same_therapist_client=False, therapist=True,
                          other_therapist=False, other_client=False, anonymous=False)
MATRIX += [
    ("can_read_thread", "client_thread", MESSAGE_CLIENT_THREAD),
    ("can_read_thread", "unstored_client_thread", MESSAGE_CLIENT_THREAD),
    ("can_read_thread", "pair_thread", MESSAGE_PAIR_THREAD),
    ("can_read_thread", "ended_pair_thread", ONLY_THE_THERAPIST),
    ("can_read_thread", "pending_pair_thread", ONLY_THE_THERAPIST),
    ("can_read_thread", "closed_client_thread", ONLY_THE_THERAPIST),
    ("can_write_in_thread", "client_thread", MESSAGE_CLIENT_THREAD),
    ("can_write_in_thread", "unstored_client_thread", MESSAGE_CLIENT_THREAD),
    ("can_write_in_thread", "pair_thread", MESSAGE_PAIR_THREAD),
    ("can_write_in_thread", "ended_pair_thread", NOBODY),
    ("can_write_in_thread", "pending_pair_thread", NOBODY),
    ("can_write_in_thread", "closed_client_thread", NOBODY),
    ("can_reply_to_feedback", "reflection", NOBODY),  # no feedback yet
    ("can_reply_to_feedback", "reflection_with_feedback", row(client=True, same_therapist_client=False,
                                                              therapist=False, other_therapist=False,
                                                              other_client=False, anonymous=False)),
    ("can_reply_to_feedback", "draft", NOBODY),
]

# Rules the matrix cannot hold, each with why and the tests that cover it instead.
OUTSIDE_THE_MATRIX = {
    "can_link_pair": ("three arguments (user, first, second): a pair of clients, not one object",
                      "tests/test_policy.py::test_can_link_pair_cell_by_cell"),
    "can_write_session_note": ("three arguments (user, session, kind): which note of a session",
                               "tests/test_policy.py::test_can_write_session_note_cell_by_cell"),
}


def rules_without_a_row() -> list[str]:
    """Every `can_*` rule `app.policy` exports that has neither a MATRIX row nor an exemption."""
    rules = {name for name in dir(policy) if name.startswith("can_") and callable(getattr(policy, name))}
    return sorted(rules - {rule for rule, _, _ in MATRIX} - set(OUTSIDE_THE_MATRIX))


def test_every_rule_has_a_row():
    missing = rules_without_a_row()
    assert not missing, f"`can_*` rules with no row in MATRIX (and no OUTSIDE_THE_MATRIX entry): {missing}"


def test_the_rule_coverage_check_names_a_rule_without_a_row(monkeypatch):
    """The coverage test can fail: a new rule with no row is named."""
    monkeypatch.setattr(policy, "can_fly", lambda user, thing: True, raising=False)
    assert "can_fly" in rules_without_a_row()


def test_every_exemption_is_still_needed_and_covered():
    for rule, (reason, covered_by) in OUTSIDE_THE_MATRIX.items():
        assert reason.strip(), f"{rule}: say why it is outside the matrix"
        assert callable(getattr(policy, rule, None)), f"{rule} is no longer a rule: drop its exemption"
        assert rule not in {r for r, _, _ in MATRIX}, f"{rule} has a MATRIX row: drop its exemption"
        path, _, test_name = covered_by.partition("::")
        source = (Path(__file__).parent.parent / path).read_text()
        assert f"def {test_name}(" in source and rule in source, f"{rule}: {covered_by} does not cover it"


# (first, second) -> expected per actor. Linking needs two different open clients of her own,
# neither already in a pair (pending or linked).
LINKS = [
    (("same_therapist_client", "free_client"), ONLY_THE_THERAPIST),
    (("client", "free_client"), NOBODY),  # C is linked with P already
    (("free_client", "free_client"), NOBODY),  # one person is not a pair
    (("same_therapist_client", "other_client"), NOBODY),  # C2 is T2's client
]


@pytest.mark.parametrize("keys,expected", LINKS, ids=["-".join(k) for k, _ in LINKS])
def test_can_link_pair_cell_by_cell(world, keys, expected):
    first, second = (target(world, key) for key in keys)
    got = {actor: policy.can_link_pair(world[actor], first, second) for actor in ACTORS}
    assert got == expected


# (kind, session) -> expected per actor: who writes which note of a session (and so may keep a
# draft of it). The shared and the clinical note are the therapist's; a member's note is each
# linked member's, on a pair session only.
NOTE_WRITERS = [
    ("shared", "session", ONLY_THE_THERAPIST),
    ("clinical", "pair_session", ONLY_THE_THERAPIST),
    ("member", "session", NOBODY),
    ("member", "pair_session", row(client=True, partner=True, same_therapist_client=False, therapist=False,
                                   other_therapist=False, other_client=False, anonymous=False)),
    ("nonsense", "session", NOBODY),
]


def test_can_write_session_note_cell_by_cell(world):
    for kind, key, expected in NOTE_WRITERS:
        got = {actor: policy.can_write_session_note(world[actor], world[key], kind) for actor in ACTORS}
        assert got == expected, (kind, key)


@pytest.mark.parametrize("rule,key,expected", MATRIX, ids=[f"{r}-{k or 'alone'}" for r, k, _ in MATRIX])
def test_rule_cell_by_cell(world, rule, key, expected):
    check = getattr(policy, rule)
    about = () if key is None else (target(world, key),)
    got = {actor: check(world[actor], *about) for actor in ACTORS}
    assert got == expected


SCOPES = [
    ("visible_clients", User, "client", row(client=True, same_therapist_client=False, therapist=True,
                                            other_therapist=False, other_client=False, anonymous=False)),
    ("visible_invitations", Invitation, "invitation", row(client=False, same_therapist_client=False,
                                                          therapist=True, other_therapist=False,
                                                          other_client=False, anonymous=False)),
    ("visible_exercises", Exercise, "own_exercise", row(client=False, same_therapist_client=False,
                                                        therapist=True, other_therapist=False,
                                                        other_client=False, anonymous=False)),
    ("visible_assignments", Assignment, "open_task", row(client=True, same_therapist_client=False,
                                                         therapist=True, other_therapist=False,
                                                         other_client=False, anonymous=False)),
    ("visible_reflections", Reflection, "reflection", row(client=True, same_therapist_client=False,
                                                          therapist=True, other_therapist=False,
                                                          other_client=False, anonymous=False)),
    ("visible_reflections", Reflection, "draft", row(client=True, same_therapist_client=False,
                                                     therapist=False, other_therapist=False,
                                                     other_client=False, anonymous=False)),
    ("visible_threads", MessageThread, "client_thread", MESSAGE_CLIENT_THREAD),
    ("visible_threads", MessageThread, "pair_thread", MESSAGE_PAIR_THREAD),
    ("visible_threads", MessageThread, "ended_pair_thread", ONLY_THE_THERAPIST),
    ("visible_threads", MessageThread, "closed_client_thread", ONLY_THE_THERAPIST),
    # Her devices: hers alone, not even her therapist's to see.
    ("visible_push_devices", PushSubscription, "push_device", row(
        client=True, same_therapist_client=False, therapist=False, other_therapist=False,
        other_client=False, anonymous=False)),
    # Note drafts: their author's alone (C's on the pair session: not P's, not even T's).
    ("visible_note_drafts", NoteDraft, "note_draft", row(
        client=True, partner=False, same_therapist_client=False, therapist=False, other_therapist=False,
        other_client=False, anonymous=False)),
    ("visible_note_templates", NoteTemplate, "note_template", ONLY_THE_THERAPIST),
]


@pytest.mark.parametrize("scope,model,key,expected", SCOPES, ids=[f"{s}-{k}" for s, _, k, _ in SCOPES])
def test_query_scopes_agree_with_the_rules(world, scope, model, key, expected):
    target_id = target(world, key).id
    got = {}
    for actor in ACTORS:
        query = getattr(policy, scope)(world[actor]).where(model.id == target_id)
        got[actor] = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) == 1
    assert got == expected


def test_a_closed_account_is_refused_everywhere(world):
    client = world["client"]
    from app.models import utcnow
    client.closed_at = utcnow()
    db.session.commit()
    assert not policy.can_view_reflection(client, world["reflection"])
    assert not policy.can_write_reflection(client, world["open_task"])
    assert not policy.can_assign_to(world["therapist"], client)


def test_get_visible_or_404_refuses_hidden_and_malformed_ids(world):
    from werkzeug.exceptions import NotFound
    for user, model, obj_id in [
        (world["other_therapist"], Reflection, world["reflection"].id),
        (world["other_client"], Assignment, world["open_task"].id),
        (world["therapist"], Reflection, world["draft"].id),
        (world["therapist"], Assignment, 10**9),
        (world["therapist"], Assignment, "abc"),
        (world["therapist"], Assignment, 2**70),
    ]:
        with pytest.raises(NotFound):
            policy.get_visible_or_404(model, obj_id, user=user)
    loaded = policy.get_visible_or_404(Reflection, world["reflection"].id, user=world["therapist"])
    assert loaded.id == world["reflection"].id


DELETED_MATRIX = [
    # Once deleted, nobody sees or works on it; only her therapist restores it.
    ("can_view_assignment", "open_task", NOBODY),
    ("can_manage_assignment", "open_task", NOBODY),
    ("can_delete_task", "open_task", NOBODY),
    ("can_write_reflection", "open_task", NOBODY),
    ("can_restore_task", "open_task", ONLY_THE_THERAPIST),
    ("can_view_reflection", "reflection", NOBODY),
    ("can_review_reflection", "reflection", NOBODY),
    ("can_add_addendum", "reflection", NOBODY),
    ("can_delete_reflection", "reflection", NOBODY),
    ("can_restore_reflection", "reflection", ONLY_THE_THERAPIST),
    ("can_view_reflection", "shared_reflection", NOBODY),
    ("partner_can_read", "shared_reflection", NOBODY),
    ("can_restore_reflection", "shared_reflection", ONLY_THE_THERAPIST),
]


@pytest.fixture
def deleted_world(world):
    from app.homework import deletion
    t = world["therapist"]
    deletion.delete_task(t, world["open_task"])
    deletion.delete_reflection(t, world["reflection"])
    deletion.delete_reflection(t, world["shared_reflection"])
    db.session.expire_all()
    return world


@pytest.mark.parametrize("rule,key,expected", DELETED_MATRIX, ids=[f"{r}-{k}" for r, k, _ in DELETED_MATRIX])
def test_deleted_rule_cell_by_cell(deleted_world, rule, key, expected):
    check = getattr(policy, rule)
    got = {actor: check(deleted_world[actor], deleted_world[key]) for actor in ACTORS}
    assert got == expected


@pytest.mark.parametrize("scope,model,key", [("visible_assignments", Assignment, "open_task"),
                                             ("visible_reflections", Reflection, "reflection"),
                                             ("shared_with", Reflection, "shared_reflection")])
def test_deleted_rows_leave_every_scope(deleted_world, scope, model, key):
    target_id = deleted_world[key].id
    for actor in ACTORS:
        query = getattr(policy, scope)(deleted_world[actor]).where(model.id == target_id)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) == 0, actor


def test_a_deleted_task_is_404_for_everyone_and_restorable_past_none(deleted_world):
    from werkzeug.exceptions import NotFound
    for actor in ("client", "therapist"):
        with pytest.raises(NotFound):
            policy.get_visible_or_404(Assignment, deleted_world["open_task"].id, user=deleted_world[actor])
    task = policy.get_for_deletion_or_404(Assignment, deleted_world["open_task"].id,
                                          user=deleted_world["therapist"])
    assert task.id == deleted_world["open_task"].id
    from datetime import timedelta
    task.deleted_at = task.deleted_at - timedelta(days=31)
    assert not policy.can_restore_task(deleted_world["therapist"], task)
    db.session.rollback()

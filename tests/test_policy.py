"""The access rules of app/policy.py, cell by cell: self / her pair partner / another client of
the same therapist / own therapist / another therapist / another client / anonymous."""
import pytest
import sqlalchemy as sa
from flask_login import AnonymousUserMixin

from app import policy
from app.extensions import db
from app.models import Assignment, Exercise, Invitation, Reflection, User
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


MATRIX = [
    # (rule, object key, expected per actor)
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
]


@pytest.mark.parametrize("rule,key,expected", MATRIX, ids=[f"{r}-{k}" for r, k, _ in MATRIX])
def test_rule_cell_by_cell(world, rule, key, expected):
    check = getattr(policy, rule)
    got = {actor: check(world[actor], world[key]) for actor in ACTORS}
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
]


@pytest.mark.parametrize("scope,model,key,expected", SCOPES, ids=[f"{s}-{k}" for s, _, k, _ in SCOPES])
def test_query_scopes_agree_with_the_rules(world, scope, model, key, expected):
    target_id = world[key].id
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


NOBODY = row(client=False, same_therapist_client=False, therapist=False, other_therapist=False,
             other_client=False, anonymous=False)
ONLY_THE_THERAPIST = row(client=False, same_therapist_client=False, therapist=True, other_therapist=False,
                         other_client=False, anonymous=False)
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

"""Every route of app.url_map has a row here, and every row is exercised as each kind of
visitor. A new route without a row fails `test_every_route_has_an_access_row`.

Objects belong to client C of therapist T. Other people's objects answer 404 (never 403, so
nothing reveals that they exist); a wrong role answers 403; anonymous visitors go to /login."""
import pytest

from tests.conftest import login
from tests.world import build_world

ACTORS = ["anonymous", "client", "partner", "same_therapist_client", "other_client", "therapist",
          "other_therapist"]
LOGIN = "login"  # a redirect to the sign-in page


def expect(anonymous=LOGIN, *, client, same_therapist_client, other_client, therapist, other_therapist,
           partner=None):
    """The pair partner is another client of T: unless a row says otherwise, she gets exactly
    what any other client of T gets (nothing of C's that C did not share with her)."""
    return dict(anonymous=anonymous, client=client, same_therapist_client=same_therapist_client,
                other_client=other_client, therapist=therapist, other_therapist=other_therapist,
                partner=same_therapist_client if partner is None else partner)


THERAPIST_PAGE = expect(client=403, same_therapist_client=403, other_client=403, therapist=200,
                        other_therapist=200)
OWN_OBJECT_OF_T = expect(client=404, same_therapist_client=404, other_client=404, therapist=200,
                         other_therapist=404)
CLIENT_WRITES = expect(client=302, same_therapist_client=404, other_client=404, therapist=403,
                       other_therapist=404)
THERAPIST_MANAGES_TASK = expect(client=403, same_therapist_client=404, other_client=404, therapist=302,
                                other_therapist=404)
THERAPIST_REVIEWS = expect(client=403, same_therapist_client=404, other_client=404, therapist=400,
                           other_therapist=404)

# endpoint: (method, url template, expected per actor)
ROUTES = {
    "accounts.index": ("GET", "/", expect(client=302, same_therapist_client=302, other_client=302,
                                      therapist=302, other_therapist=302)),
    "homework.home": ("GET", "/home", expect(client=200, same_therapist_client=200, other_client=200,
                                         therapist=403, other_therapist=403)),
    "health.healthz": ("GET", "/healthz", expect(200, client=200, same_therapist_client=200,
                                               other_client=200, therapist=200, other_therapist=200)),
    "health.readyz": ("GET", "/readyz", expect(200, client=200, same_therapist_client=200,
                                             other_client=200, therapist=200, other_therapist=200)),
    "accounts.login": ("GET", "/login", expect(200, client=302, same_therapist_client=302, other_client=302,
                                           therapist=302, other_therapist=302)),
    "accounts.logout": ("POST", "/logout", expect(302, client=302, same_therapist_client=302,
                                              other_client=302, therapist=302, other_therapist=302)),
    "accounts.forgot_password": ("GET", "/reset", expect(200, client=200, same_therapist_client=200,
                                                     other_client=200, therapist=200, other_therapist=200)),
    "accounts.reset_password": ("GET", "/reset/not-a-token", expect(410, client=410, same_therapist_client=410,
                                                                other_client=410, therapist=410,
                                                                other_therapist=410)),
    "accounts.change_password": ("GET", "/account/password", expect(client=200, same_therapist_client=200,
                                                                other_client=200, therapist=200,
                                                                other_therapist=200)),
    "accounts.account": ("GET", "/account", expect(client=200, same_therapist_client=200, other_client=200,
                                               therapist=200, other_therapist=200)),
    "accounts.verify": ("GET", "/login/verify", expect(client=LOGIN, same_therapist_client=LOGIN,
                                                   other_client=LOGIN, therapist=LOGIN,
                                                   other_therapist=LOGIN)),
    "accounts.two_factor_setup": ("GET", "/account/two-factor", expect(client=200, same_therapist_client=200,
                                                                   other_client=200, therapist=200,
                                                                   other_therapist=200)),
    "accounts.new_recovery_codes": ("POST", "/account/two-factor/recovery-codes",
                                expect(client=302, same_therapist_client=302, other_client=302,
                                       therapist=302, other_therapist=302)),
    "accounts.disable_two_factor": ("POST", "/account/two-factor/disable",
                                expect(client=302, same_therapist_client=302, other_client=302,
                                       therapist=302, other_therapist=302)),
    # Only someone signed in may ask for, or open, the link that confirms setting it up.
    "accounts.send_two_factor_link": ("POST", "/account/two-factor/link",
                                      expect(client=302, same_therapist_client=302, other_client=302,
                                             therapist=302, other_therapist=302)),
    "accounts.confirm_two_factor_enrolment": ("GET", "/account/two-factor/confirm/not-a-token",
                                              expect(client=302, same_therapist_client=302,
                                                     other_client=302, therapist=302,
                                                     other_therapist=302)),
    "accounts.accept_invitation": ("GET", "/invitations/accept/not-a-token",
                           expect(410, client=410, same_therapist_client=410, other_client=410,
                                  therapist=410, other_therapist=410)),
    "progress.caseload": ("GET", "/caseload", THERAPIST_PAGE),
    "progress.client": ("GET", "/clients/{client}", expect(client=403, same_therapist_client=404,
                                                            other_client=404, therapist=200,
                                                            other_therapist=404)),
    "accounts.new_invitation": ("GET", "/invitations/new", THERAPIST_PAGE),
    "accounts.resend_invitation": ("POST", "/invitations/{invitation}/resend",
                           expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                  other_therapist=404)),
    "accounts.revoke_invitation": ("POST", "/invitations/{invitation}/revoke",
                           expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                  other_therapist=404)),
    "homework.library": ("GET", "/exercises/", THERAPIST_PAGE),
    "homework.new_exercise": ("GET", "/exercises/new", THERAPIST_PAGE),
    "homework.exercise": ("GET", "/exercises/{own_exercise}", OWN_OBJECT_OF_T),
    "homework.edit_exercise": ("GET", "/exercises/{own_exercise}/edit", OWN_OBJECT_OF_T),
    "homework.duplicate_exercise": ("POST", "/exercises/{own_exercise}/duplicate",
                            expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                   other_therapist=404)),
    "homework.archive_exercise": ("POST", "/exercises/{own_exercise}/archive",
                          expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                 other_therapist=404)),
    # The library's preview and its assigning to several: whoever may see the exercise.
    "homework.preview_exercise": ("GET", "/exercises/{own_exercise}/preview", OWN_OBJECT_OF_T),
    "homework.preview_exercise#built_in": ("GET", "/exercises/{built_in}/preview?as=mother",
                                           expect(client=404, same_therapist_client=404, other_client=404,
                                                  therapist=200, other_therapist=200)),
    "homework.bulk_assign": ("GET", "/exercises/{own_exercise}/assign", OWN_OBJECT_OF_T),
    "homework.bulk_assign#built_in": ("GET", "/exercises/{built_in}/assign",
                                      expect(client=404, same_therapist_client=404, other_client=404,
                                             therapist=200, other_therapist=200)),
    # Nobody chosen: the form again with "Choose at least one client or pair." (nothing assigned).
    "homework.bulk_assign#post": ("POST", "/exercises/{own_exercise}/assign",
                                  expect(client=404, same_therapist_client=404, other_client=404,
                                         therapist=200, other_therapist=404)),
    "homework.assign": ("GET", "/clients/{client}/assign",
                           expect(client=403, same_therapist_client=404, other_client=404, therapist=200,
                                  other_therapist=404)),
    "homework.change_due_date": ("POST", "/tasks/{open_task}/due-date", THERAPIST_MANAGES_TASK),
    "homework.cancel": ("POST", "/tasks/{open_task}/cancel", THERAPIST_MANAGES_TASK),
    "homework.reopen": ("POST", "/tasks/{open_task}/reopen", THERAPIST_MANAGES_TASK),
    # Soft delete: only the client's therapist deletes and restores (restoring what is not
    # deleted just says so); the client who sees the task or reflection gets 403 (wrong role).
    "homework.delete_task": ("POST", "/tasks/{open_task}/delete", THERAPIST_MANAGES_TASK),
    "homework.restore_task": ("POST", "/tasks/{open_task}/restore", THERAPIST_MANAGES_TASK),
    "homework.delete_reflection": ("POST", "/reflections/{reflection}/delete", THERAPIST_MANAGES_TASK),
    "homework.delete_reflection#shared": ("POST", "/reflections/{shared_reflection}/delete",
                                             expect(client=403, partner=403, same_therapist_client=404,
                                                    other_client=404, therapist=302, other_therapist=404)),
    "homework.restore_reflection": ("POST", "/reflections/{reflection}/restore", THERAPIST_MANAGES_TASK),
    "homework.deleted": ("GET", "/deleted", THERAPIST_PAGE),
    "homework.task": ("GET", "/tasks/{open_task}", expect(client=200, same_therapist_client=404,
                                                             other_client=404, therapist=200,
                                                             other_therapist=404)),
    "homework.save": ("POST", "/tasks/{open_task}", CLIENT_WRITES),
    "homework.autosave": ("POST", "/tasks/{open_task}/draft",
                             expect(client=200, same_therapist_client=404, other_client=404,
                                    therapist=403, other_therapist=404)),
    "homework.add_addendum": ("POST", "/reflections/{reflection}/addenda", CLIENT_WRITES),
    "homework.mark_urgent": ("POST", "/reflections/{reflection}/urgent", CLIENT_WRITES),
    "homework.queue": ("GET", "/review", THERAPIST_PAGE),
    "homework.read": ("GET", "/reflections/{reflection}", expect(client=302, same_therapist_client=404,
                                                               other_client=404, therapist=200,
                                                               other_therapist=404)),
    "homework.feedback": ("POST", "/reflections/{reflection}/feedback", THERAPIST_REVIEWS),
    "homework.annotate": ("POST", "/reflections/{reflection}/annotations", THERAPIST_REVIEWS),
    "homework.reviewed": ("POST", "/reflections/{reflection}/reviewed",
                        expect(client=403, same_therapist_client=404, other_client=404, therapist=302,
                               other_therapist=404)),
}
ROUTES.update({
    "pairs.new": ("GET", "/pairs/new", THERAPIST_PAGE),
    "pairs.show": ("GET", "/pairs/{pair}", expect(client=200, partner=200, same_therapist_client=404,
                                                  other_client=404, therapist=200, other_therapist=404)),
    "pairs.accept": ("POST", "/pairs/{pair}/accept", expect(client=302, partner=302, same_therapist_client=404,
                                                            other_client=404, therapist=403,
                                                            other_therapist=404)),
    "pairs.decline": ("POST", "/pairs/{pair}/decline", expect(client=302, partner=302,
                                                              same_therapist_client=404, other_client=404,
                                                              therapist=403, other_therapist=404)),
    "pairs.leave": ("POST", "/pairs/{pair}/leave", expect(client=302, partner=302, same_therapist_client=404,
                                                          other_client=404, therapist=403,
                                                          other_therapist=404)),
    "pairs.dissolve": ("POST", "/pairs/{pair}/dissolve", expect(client=403, partner=403,
                                                                same_therapist_client=404, other_client=404,
                                                                therapist=302, other_therapist=404)),
    "pairs.assign": ("GET", "/pairs/{pair}/assign", expect(client=403, partner=403, same_therapist_client=404,
                                                           other_client=404, therapist=200,
                                                           other_therapist=404)),
    "homework.share": ("POST", "/reflections/{reflection}/share", CLIENT_WRITES),
    "homework.unshare": ("POST", "/reflections/{reflection}/unshare", CLIENT_WRITES),
    # The reveal: members only, once both have sent (in this world only C has: 409, "not yet").
    "pairs.reveal_page": ("GET", "/pairs/exercises/{pair_exercise}/reveal",
                          expect(client=409, partner=409, same_therapist_client=404, other_client=404,
                                 therapist=403, other_therapist=404)),
    # Replies after the reveal (not open in this world): a form without its fields goes back to
    # the page for the members; a reply nobody but the therapist sees is 404 to the others.
    "pairs.reply": ("POST", "/pairs/exercises/{pair_exercise}/replies",
                    expect(client=302, partner=302, same_therapist_client=404, other_client=404,
                           therapist=403, other_therapist=404)),
    "pairs.edit_reply": ("POST", "/pairs/replies/{reply}/edit",
                         expect(client=404, partner=404, same_therapist_client=404, other_client=404,
                                therapist=403, other_therapist=404)),
    "pairs.withdraw_reply": ("POST", "/pairs/replies/{reply}/withdraw",
                             expect(client=404, partner=404, same_therapist_client=404, other_client=404,
                                    therapist=403, other_therapist=404)),
    "pairs.shared": ("GET", "/shared", expect(client=200, partner=200, same_therapist_client=200,
                                              other_client=200, therapist=403, other_therapist=403)),
    # Not an endpoint of its own: C's shared reflection, read by each visitor.
    "homework.read#shared": ("GET", "/reflections/{shared_reflection}",
                           expect(client=302, partner=200, same_therapist_client=404, other_client=404,
                                  therapist=200, other_therapist=404)),
    "therapy_sessions.new_for_client": ("GET", "/clients/{client}/sessions/new",
                                expect(client=403, same_therapist_client=404, other_client=404,
                                       therapist=200, other_therapist=404)),
    "therapy_sessions.new_for_pair": ("GET", "/pairs/{pair}/sessions/new",
                              expect(client=403, partner=403, same_therapist_client=404, other_client=404,
                                     therapist=200, other_therapist=404)),
    "therapy_sessions.show": ("GET", "/sessions/{session}", expect(client=200, same_therapist_client=404,
                                                            other_client=404, therapist=200,
                                                            other_therapist=404)),
    "therapy_sessions.show#pair": ("GET", "/sessions/{pair_session}",
                           expect(client=200, partner=200, same_therapist_client=404, other_client=404,
                                  therapist=200, other_therapist=404)),
    "therapy_sessions.save_shared_note": ("POST", "/sessions/{session}/shared-note", THERAPIST_REVIEWS),
    "therapy_sessions.save_clinical_note": ("POST", "/sessions/{session}/clinical-note", THERAPIST_REVIEWS),
    "therapy_sessions.save_notes": ("POST", "/sessions/{session}/notes", THERAPIST_REVIEWS),
    # The notes' autosave (a draft only its author reads): sent with no body, 400. On C's own
    # session no note is hers to write (403); on the pair's, each member's own note is.
    "therapy_sessions.autosave_note": ("POST", "/sessions/{session}/note-draft",
                                       expect(client=403, same_therapist_client=404, other_client=404,
                                              therapist=400, other_therapist=404)),
    "therapy_sessions.autosave_note#pair": ("POST", "/sessions/{pair_session}/note-draft",
                                            expect(client=400, partner=400, same_therapist_client=404,
                                                   other_client=404, therapist=400, other_therapist=404)),
    # T's own clinical note templates: a therapist's page; T2 finds none of T's.
    "therapy_sessions.note_templates_page": ("GET", "/note-templates", THERAPIST_PAGE),
    "therapy_sessions.create_note_template": ("POST", "/note-templates",
                                              expect(client=403, same_therapist_client=403, other_client=403,
                                                     therapist=400, other_therapist=400)),
    "therapy_sessions.edit_note_template": ("POST", "/note-templates/{note_template}",
                                            expect(client=403, same_therapist_client=403, other_client=403,
                                                   therapist=400, other_therapist=404)),
    "therapy_sessions.archive_note_template": ("POST", "/note-templates/{note_template}/archive",
                                               expect(client=403, same_therapist_client=403,
                                                      other_client=403, therapist=302, other_therapist=404)),
    "therapy_sessions.restore_note_template": ("POST", "/note-templates/{note_template}/restore",
                                               expect(client=403, same_therapist_client=403,
                                                      other_client=403, therapist=302, other_therapist=404)),
    "therapy_sessions.history": ("GET", "/sessions/{session}/history",
                         expect(client=200, same_therapist_client=404, other_client=404, therapist=200,
                                other_therapist=404)),
    "therapy_sessions.comment": ("POST", "/sessions/{session}/comments", CLIENT_WRITES),
    "therapy_sessions.add_member_note": ("POST", "/sessions/{pair_session}/member-notes",
                                 expect(client=400, partner=400, same_therapist_client=404,
                                        other_client=404, therapist=403, other_therapist=404)),
    "therapy_sessions.edit_member_note": ("POST", "/session-notes/{member_note}", CLIENT_WRITES),
    "therapy_sessions.index": ("GET", "/sessions", expect(client=200, same_therapist_client=200, other_client=200,
                                                  therapist=403, other_therapist=403)),
    "therapy_sessions.add_agenda_item": ("POST", "/agenda", expect(client=302, same_therapist_client=302,
                                                           other_client=302, therapist=403,
                                                           other_therapist=403)),
    "therapy_sessions.tick_agenda_item": ("POST", "/agenda/{agenda_item}/done", THERAPIST_MANAGES_TASK),
    "therapy_sessions.prep": ("GET", "/clients/{client}/prep", expect(client=403, same_therapist_client=404,
                                                               other_client=404, therapist=200,
                                                               other_therapist=404)),
    "progress.mine": ("GET", "/progress", expect(client=200, same_therapist_client=200, other_client=200,
                                                 therapist=403, other_therapist=403)),
    "progress.export_page": ("GET", "/export", expect(client=200, same_therapist_client=200,
                                                      other_client=200, therapist=403, other_therapist=403)),
    "progress.export_json": ("GET", "/export.json", expect(client=200, same_therapist_client=200,
                                                           other_client=200, therapist=403,
                                                           other_therapist=403)),
    "progress.client_export_page": ("GET", "/clients/{client}/export",
                                    expect(client=403, same_therapist_client=404, other_client=404,
                                           therapist=200, other_therapist=404)),
    "progress.client_export_json": ("GET", "/clients/{client}/export.json",
                                    expect(client=403, same_therapist_client=404, other_client=404,
                                           therapist=200, other_therapist=404)),
    "accounts.close_account": ("POST", "/clients/{client}/close", THERAPIST_MANAGES_TASK),
    "notifications.index": ("GET", "/notifications", expect(client=200, same_therapist_client=200,
                                                            other_client=200, therapist=200,
                                                            other_therapist=200)),
    # C's notification (her new task): only she may open it.
    "notifications.open_note": ("POST", "/notifications/{notification}/open",
                                expect(client=302, same_therapist_client=404, other_client=404,
                                       therapist=404, other_therapist=404)),
    "notifications.read_all": ("POST", "/notifications/read", expect(client=302,
                                                                     same_therapist_client=302,
                                                                     other_client=302, therapist=302,
                                                                     other_therapist=302)),
    # The audit trail: C's own therapist reads C's; each client reads who opened her own record.
    "audit.client_trail": ("GET", "/clients/{client}/audit",
                                 expect(client=403, same_therapist_client=404, other_client=404,
                                        therapist=200, other_therapist=404)),
    "audit.my_activity": ("GET", "/account/activity",
                                expect(client=200, same_therapist_client=200, other_client=200,
                                       therapist=403, other_therapist=403)),
})
# Secure messages: C's thread is hers and T's; the pair's thread its members' (while linked) and
# T's. A form sent without a message answers 400 ("Write your message"), nothing stored. The reply
# to feedback on C's reflection: it has no feedback in this world, so C goes to her messages.
ROUTES.update({
    "messages.index": ("GET", "/messages", expect(client=200, same_therapist_client=200, other_client=200,
                                                  therapist=200, other_therapist=200)),
    "messages.client_thread": ("GET", "/messages/clients/{client}",
                               expect(client=200, same_therapist_client=404, other_client=404,
                                      therapist=200, other_therapist=404)),
    "messages.write_to_client": ("POST", "/messages/clients/{client}",
                                 expect(client=400, same_therapist_client=404, other_client=404,
                                        therapist=400, other_therapist=404)),
    "messages.pair_thread": ("GET", "/messages/pairs/{pair}",
                             expect(client=200, partner=200, same_therapist_client=404, other_client=404,
                                    therapist=200, other_therapist=404)),
    "messages.write_to_pair": ("POST", "/messages/pairs/{pair}",
                               expect(client=400, partner=400, same_therapist_client=404,
                                      other_client=404, therapist=400, other_therapist=404)),
    "messages.hours": ("POST", "/messages/hours", expect(client=403, same_therapist_client=403,
                                                         other_client=403, therapist=302,
                                                         other_therapist=302)),
    "messages.about": ("GET", "/messages/about/{reflection}",
                       expect(client=302, same_therapist_client=404, other_client=404, therapist=403,
                              other_therapist=404)),
    "messages.about#shared": ("GET", "/messages/about/{shared_reflection}",
                              expect(client=302, partner=302, same_therapist_client=404,
                                     other_client=404, therapist=403, other_therapist=404)),
})
# Web push: every signed-in person turns it on and off for her own devices. The tests' config
# has no VAPID keys, so turning it on answers 409 "not set up at this practice" (tests/test_push.py
# covers it set up); turning off a device that is not hers says so and changes nothing.
ROUTES.update({
    "notifications.push_subscribe": ("POST", "/account/push",
                                     expect(client=409, same_therapist_client=409, other_client=409,
                                            therapist=409, other_therapist=409)),
    "notifications.push_unsubscribe": ("POST", "/account/push/off",
                                       expect(client=302, same_therapist_client=302, other_client=302,
                                              therapist=302, other_therapist=302)),
    "notifications.service_worker": ("GET", "/sw.js", expect(200, client=200, same_therapist_client=200,
                                                             other_client=200, therapist=200,
                                                             other_therapist=200)),
})
# Sessions scheduled ahead: the therapist schedules with her own client or linked pair, moves or
# cancels her own session ahead (C's, a week ahead); her calendar page is hers; the feed needs no
# sign-in, and an address that is not one answers 404 to everyone.
ROUTES.update({
    "therapy_sessions.schedule_for_client": ("GET", "/clients/{client}/sessions/schedule",
                                             expect(client=403, same_therapist_client=404, other_client=404,
                                                    therapist=200, other_therapist=404)),
    "therapy_sessions.schedule_for_pair": ("GET", "/pairs/{pair}/sessions/schedule",
                                           expect(client=403, partner=403, same_therapist_client=404,
                                                  other_client=404, therapist=200, other_therapist=404)),
    "therapy_sessions.reschedule_session": ("GET", "/sessions/{upcoming_session}/edit",
                                            expect(client=403, same_therapist_client=404, other_client=404,
                                                   therapist=200, other_therapist=404)),
    "therapy_sessions.cancel_session": ("GET", "/sessions/{upcoming_session}/cancel",
                                        expect(client=403, same_therapist_client=404, other_client=404,
                                               therapist=200, other_therapist=404)),
    "therapy_sessions.calendar": ("GET", "/account/calendar", THERAPIST_PAGE),
    "therapy_sessions.calendar_new_address": ("POST", "/account/calendar/address",
                                              expect(client=403, same_therapist_client=403, other_client=403,
                                                     therapist=200, other_therapist=200)),
    "therapy_sessions.calendar_revoke": ("POST", "/account/calendar/revoke",
                                         expect(client=403, same_therapist_client=403, other_client=403,
                                                therapist=302, other_therapist=302)),
    "therapy_sessions.calendar_names": ("POST", "/account/calendar/names",
                                        expect(client=403, same_therapist_client=403, other_client=403,
                                               therapist=400, other_therapist=400)),
    "therapy_sessions.calendar_feed": ("GET", "/calendar/not-a-calendar-address.ics",
                                       expect(404, client=404, same_therapist_client=404, other_client=404,
                                              therapist=404, other_therapist=404)),
})
PUBLIC_ASSETS = {"static"}


def test_every_route_has_an_access_row(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - PUBLIC_ASSETS
    rows = {name.split("#")[0] for name in ROUTES}
    missing = sorted(endpoints - rows)
    assert not missing, f"routes with no row in the access matrix: {missing}"
    stale = sorted(rows - endpoints)
    assert not stale, f"rows for routes that no longer exist: {stale}"


def test_every_row_matches_the_route_method(app):
    for name, (method, _, _) in ROUTES.items():
        endpoint = name.split("#")[0]
        methods = set().union(*(r.methods for r in app.url_map.iter_rules(endpoint)))
        assert method in methods, f"{endpoint} does not accept {method}"


@pytest.fixture
def world(app):
    return build_world()


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", sorted(ROUTES))
def test_access(app, world, endpoint, actor):
    method, template, expected = ROUTES[endpoint]
    url = template.format(**{k: getattr(v, "id", None) for k, v in world.items()})
    client = app.test_client()
    if actor != "anonymous":
        login(client, world[actor])
    response = client.open(url, method=method)
    want = expected[actor]
    if want == LOGIN:
        assert response.status_code == 302 and "/login" in response.location, \
            f"{actor} {method} {url}: {response.status_code} {response.location}"
    else:
        assert response.status_code == want, f"{actor} {method} {url}"

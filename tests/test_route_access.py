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
    "main.index": ("GET", "/", expect(client=302, same_therapist_client=302, other_client=302,
                                      therapist=302, other_therapist=302)),
    "main.home": ("GET", "/home", expect(client=200, same_therapist_client=200, other_client=200,
                                         therapist=403, other_therapist=403)),
    "main.healthz": ("GET", "/healthz", expect(200, client=200, same_therapist_client=200,
                                               other_client=200, therapist=200, other_therapist=200)),
    "auth.login": ("GET", "/login", expect(200, client=302, same_therapist_client=302, other_client=302,
                                           therapist=302, other_therapist=302)),
    "auth.logout": ("POST", "/logout", expect(302, client=302, same_therapist_client=302,
                                              other_client=302, therapist=302, other_therapist=302)),
    "auth.forgot_password": ("GET", "/reset", expect(200, client=200, same_therapist_client=200,
                                                     other_client=200, therapist=200, other_therapist=200)),
    "auth.reset_password": ("GET", "/reset/not-a-token", expect(410, client=410, same_therapist_client=410,
                                                                other_client=410, therapist=410,
                                                                other_therapist=410)),
    "auth.change_password": ("GET", "/account/password", expect(client=200, same_therapist_client=200,
                                                                other_client=200, therapist=200,
                                                                other_therapist=200)),
    "auth.account": ("GET", "/account", expect(client=200, same_therapist_client=200, other_client=200,
                                               therapist=200, other_therapist=200)),
    "auth.verify": ("GET", "/login/verify", expect(client=LOGIN, same_therapist_client=LOGIN,
                                                   other_client=LOGIN, therapist=LOGIN,
                                                   other_therapist=LOGIN)),
    "auth.two_factor_setup": ("GET", "/account/two-factor", expect(client=200, same_therapist_client=200,
                                                                   other_client=200, therapist=200,
                                                                   other_therapist=200)),
    "auth.new_recovery_codes": ("POST", "/account/two-factor/recovery-codes",
                                expect(client=302, same_therapist_client=302, other_client=302,
                                       therapist=302, other_therapist=302)),
    "auth.disable_two_factor": ("POST", "/account/two-factor/disable",
                                expect(client=302, same_therapist_client=302, other_client=302,
                                       therapist=302, other_therapist=302)),
    "invitations.accept": ("GET", "/invitations/accept/not-a-token",
                           expect(410, client=410, same_therapist_client=410, other_client=410,
                                  therapist=410, other_therapist=410)),
    "caseload.index": ("GET", "/caseload", THERAPIST_PAGE),
    "caseload.client": ("GET", "/clients/{client}", expect(client=403, same_therapist_client=404,
                                                            other_client=404, therapist=200,
                                                            other_therapist=404)),
    "invitations.new": ("GET", "/invitations/new", THERAPIST_PAGE),
    "invitations.resend": ("POST", "/invitations/{invitation}/resend",
                           expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                  other_therapist=404)),
    "invitations.revoke": ("POST", "/invitations/{invitation}/revoke",
                           expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                  other_therapist=404)),
    "exercises.index": ("GET", "/exercises/", THERAPIST_PAGE),
    "exercises.new": ("GET", "/exercises/new", THERAPIST_PAGE),
    "exercises.show": ("GET", "/exercises/{own_exercise}", OWN_OBJECT_OF_T),
    "exercises.edit": ("GET", "/exercises/{own_exercise}/edit", OWN_OBJECT_OF_T),
    "exercises.duplicate": ("POST", "/exercises/{own_exercise}/duplicate",
                            expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                   other_therapist=404)),
    "exercises.archive": ("POST", "/exercises/{own_exercise}/archive",
                          expect(client=404, same_therapist_client=404, other_client=404, therapist=302,
                                 other_therapist=404)),
    "assignments.assign": ("GET", "/clients/{client}/assign",
                           expect(client=403, same_therapist_client=404, other_client=404, therapist=200,
                                  other_therapist=404)),
    "assignments.change_due_date": ("POST", "/tasks/{open_task}/due-date", THERAPIST_MANAGES_TASK),
    "assignments.cancel": ("POST", "/tasks/{open_task}/cancel", THERAPIST_MANAGES_TASK),
    "assignments.reopen": ("POST", "/tasks/{open_task}/reopen", THERAPIST_MANAGES_TASK),
    # Soft delete: only the client's therapist deletes and restores (restoring what is not
    # deleted just says so); the client who sees the task or reflection gets 403 (wrong role).
    "assignments.delete_task": ("POST", "/tasks/{open_task}/delete", THERAPIST_MANAGES_TASK),
    "assignments.restore_task": ("POST", "/tasks/{open_task}/restore", THERAPIST_MANAGES_TASK),
    "assignments.delete_reflection": ("POST", "/reflections/{reflection}/delete", THERAPIST_MANAGES_TASK),
    "assignments.delete_reflection#shared": ("POST", "/reflections/{shared_reflection}/delete",
                                             expect(client=403, partner=403, same_therapist_client=404,
                                                    other_client=404, therapist=302, other_therapist=404)),
    "assignments.restore_reflection": ("POST", "/reflections/{reflection}/restore", THERAPIST_MANAGES_TASK),
    "assignments.deleted": ("GET", "/deleted", THERAPIST_PAGE),
    "reflections.task": ("GET", "/tasks/{open_task}", expect(client=200, same_therapist_client=404,
                                                             other_client=404, therapist=200,
                                                             other_therapist=404)),
    "reflections.save": ("POST", "/tasks/{open_task}", CLIENT_WRITES),
    "reflections.autosave": ("POST", "/tasks/{open_task}/draft",
                             expect(client=200, same_therapist_client=404, other_client=404,
                                    therapist=403, other_therapist=404)),
    "reflections.add_addendum": ("POST", "/reflections/{reflection}/addenda", CLIENT_WRITES),
    "reflections.mark_urgent": ("POST", "/reflections/{reflection}/urgent", CLIENT_WRITES),
    "review.queue": ("GET", "/review", THERAPIST_PAGE),
    "review.read": ("GET", "/reflections/{reflection}", expect(client=302, same_therapist_client=404,
                                                               other_client=404, therapist=200,
                                                               other_therapist=404)),
    "review.feedback": ("POST", "/reflections/{reflection}/feedback", THERAPIST_REVIEWS),
    "review.annotate": ("POST", "/reflections/{reflection}/annotations", THERAPIST_REVIEWS),
    "review.reviewed": ("POST", "/reflections/{reflection}/reviewed",
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
    "pairs.share": ("POST", "/reflections/{reflection}/share", CLIENT_WRITES),
    "pairs.unshare": ("POST", "/reflections/{reflection}/unshare", CLIENT_WRITES),
    "pairs.shared": ("GET", "/shared", expect(client=200, partner=200, same_therapist_client=200,
                                              other_client=200, therapist=403, other_therapist=403)),
    # Not an endpoint of its own: C's shared reflection, read by each visitor.
    "review.read#shared": ("GET", "/reflections/{shared_reflection}",
                           expect(client=302, partner=200, same_therapist_client=404, other_client=404,
                                  therapist=200, other_therapist=404)),
    "sessions.new_for_client": ("GET", "/clients/{client}/sessions/new",
                                expect(client=403, same_therapist_client=404, other_client=404,
                                       therapist=200, other_therapist=404)),
    "sessions.new_for_pair": ("GET", "/pairs/{pair}/sessions/new",
                              expect(client=403, partner=403, same_therapist_client=404, other_client=404,
                                     therapist=200, other_therapist=404)),
    "sessions.show": ("GET", "/sessions/{session}", expect(client=200, same_therapist_client=404,
                                                            other_client=404, therapist=200,
                                                            other_therapist=404)),
    "sessions.show#pair": ("GET", "/sessions/{pair_session}",
                           expect(client=200, partner=200, same_therapist_client=404, other_client=404,
                                  therapist=200, other_therapist=404)),
    "sessions.save_shared_note": ("POST", "/sessions/{session}/shared-note", THERAPIST_REVIEWS),
    "sessions.save_clinical_note": ("POST", "/sessions/{session}/clinical-note", THERAPIST_REVIEWS),
    "sessions.save_notes": ("POST", "/sessions/{session}/notes", THERAPIST_REVIEWS),
    "sessions.history": ("GET", "/sessions/{session}/history",
                         expect(client=200, same_therapist_client=404, other_client=404, therapist=200,
                                other_therapist=404)),
    "sessions.comment": ("POST", "/sessions/{session}/comments", CLIENT_WRITES),
    "sessions.add_member_note": ("POST", "/sessions/{pair_session}/member-notes",
                                 expect(client=400, partner=400, same_therapist_client=404,
                                        other_client=404, therapist=403, other_therapist=404)),
    "sessions.edit_member_note": ("POST", "/session-notes/{member_note}", CLIENT_WRITES),
    "sessions.index": ("GET", "/sessions", expect(client=200, same_therapist_client=200, other_client=200,
                                                  therapist=403, other_therapist=403)),
    "sessions.add_agenda_item": ("POST", "/agenda", expect(client=302, same_therapist_client=302,
                                                           other_client=302, therapist=403,
                                                           other_therapist=403)),
    "sessions.tick_agenda_item": ("POST", "/agenda/{agenda_item}/done", THERAPIST_MANAGES_TASK),
    "sessions.prep": ("GET", "/clients/{client}/prep", expect(client=403, same_therapist_client=404,
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
    "progress.close_account": ("POST", "/clients/{client}/close", THERAPIST_MANAGES_TASK),
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
    "audit_trail.client_trail": ("GET", "/clients/{client}/audit",
                                 expect(client=403, same_therapist_client=404, other_client=404,
                                        therapist=200, other_therapist=404)),
    "audit_trail.my_activity": ("GET", "/account/activity",
                                expect(client=200, same_therapist_client=200, other_client=200,
                                       therapist=403, other_therapist=403)),
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

"""A hidden button and a refused request never disagree: for every POST route, the template's
visible action (a form's action, a button's formaction, a link to a page that posts to itself)
and the route's refusal come from the same `app.policy` rule.

Two halves:

* Static, over every template and every POST route of `app.url_map`: each visible action's
  nearest enclosing `{% if <rule>(...) %}` must name a rule the route (its view, the helpers and
  the services it calls) refuses with. Actions shown without a guard of their own are listed in
  explicit tables saying which rule admits one to the page, and that rule is checked too.
* Behaviour over HTTP with tests/world.py's world, for a sample of actions across areas: for
  each kind of person, the button is on the page exactly when the POST does what it says, and
  both agree with the policy rule.

Known mismatches are listed in KNOWN_MISMATCHES, each marked xfail(strict): they are findings to
fix in app/ or templates/, and the test fails (XPASS) the day one is fixed, so that its line here
is removed.
"""
from __future__ import annotations

import ast
import builtins
import functools
import inspect
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pytest
from flask_login import AnonymousUserMixin
from jinja2 import nodes

from app import policy
from app.extensions import db
from app.policy import loading
from tests.conftest import _clean_tables, login
from tests.world import build_world

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
GUARD_RULES = set(policy.JINJA_GLOBALS)  # what a template can ask
# require_therapist(user) is "abort(403) unless is_therapist(user)": the same rule, asked as a
# refusal (test_require_is_the_role_rule checks it).
REQUIRE = {"require_therapist": "is_therapist", "require_client": "is_client"}

# --- the templates' side: each visible action and the rule that guards it ---------------------

# The attribute a url_for() fills: a form's action, a button's formaction, a link, or the URL a
# page's script posts to (the task page's autosave).
_ACTION_ATTRIBUTE = re.compile(r'\s((?:form)?action|href|data-[a-z-]+-url)="\s*$')


@dataclass(frozen=True)
class Action:
    template: str
    line: int
    endpoint: str
    attribute: str
    guard: tuple  # the rules the nearest enclosing {% if %} that asks any rule asks


def _rules_in(expr, assigned, seen=()) -> tuple:
    """The policy rules an expression asks, through `{% set name = ... %}` too."""
    found = []
    for name in [expr] if isinstance(expr, nodes.Name) else expr.find_all(nodes.Name):
        if name.name in GUARD_RULES:
            found.append(name.name)
        elif name.name in assigned and name.name not in seen:
            found.extend(_rules_in(assigned[name.name], assigned, seen + (name.name,)))
    return tuple(dict.fromkeys(found))


def _url_for_endpoints(expr):
    calls = ([expr] if isinstance(expr, nodes.Call) else []) + list(expr.find_all(nodes.Call))
    for call in calls:
        if (isinstance(call.node, nodes.Name) and call.node.name == "url_for" and call.args
                and isinstance(call.args[0], nodes.Const)):
            yield call.args[0].value


def _walk(node, template, guards, assigned):
    """Every url_for() in an action attribute, with the rules of the {% if %}s around it (an
    elif or else branch is guarded only by its own test, never by the negation of another)."""
    if isinstance(node, nodes.If):
        for test, body in [(node.test, node.body)] + [(e.test, e.body) for e in node.elif_]:
            for child in body:
                yield from _walk(child, template, guards + (_rules_in(test, assigned),), assigned)
        for child in node.else_:
            yield from _walk(child, template, guards + ((),), assigned)
        return
    if isinstance(node, nodes.Output):
        before = ""
        for part in node.nodes:
            if isinstance(part, nodes.TemplateData):
                before = part.data
                continue
            match = _ACTION_ATTRIBUTE.search(before)
            if match:
                ruled = [g for g in reversed(guards) if g]
                for endpoint in _url_for_endpoints(part):
                    yield Action(template, part.lineno, endpoint, match.group(1), ruled[0] if ruled else ())
            before = ""
        return
    for child in node.iter_child_nodes():
        yield from _walk(child, template, guards, assigned)


def actions_in(source: str, template: str) -> list[Action]:
    tree = jinja2.Environment(autoescape=True).parse(source)
    assigned = {a.target.name: a.node for a in tree.find_all(nodes.Assign) if isinstance(a.target, nodes.Name)}
    return list(_walk(tree, template, (), assigned))


def template_actions() -> list[Action]:
    """Every visible action of every template that leads to a route taking a POST."""
    posts = _routes()[1]
    return [action for path in sorted(TEMPLATES.rglob("*.html"))
            for action in actions_in(path.read_text(encoding="utf-8"), path.relative_to(TEMPLATES).as_posix())
            if action.endpoint in posts]


@functools.cache
def _routes() -> tuple[dict, frozenset]:
    """The views and the POST endpoints of the app, built only to be read (no database is
    opened), so that the actions can be listed when the tests are collected."""
    from app import create_app
    from config import TestingConfig
    app = create_app(TestingConfig)
    return app.view_functions, frozenset(r.endpoint for r in app.url_map.iter_rules() if "POST" in r.methods)


# --- the routes' side: the rules a view and everything it calls refuse with --------------------

@dataclass
class Asked:
    refusing: set = field(default_factory=set)  # a False answer refuses (404, 403, an error)
    referenced: set = field(default_factory=set)  # asked at all (also to choose a page)


def _is_rule(obj) -> bool:
    return inspect.isfunction(obj) and obj.__module__.startswith("app.policy")


def _is_followed(obj) -> bool:
    return (inspect.isfunction(obj) and obj.__module__.startswith("app.")
            and not obj.__module__.startswith("app.policy"))


def _ends_request(body) -> str | None:
    """'raise' when the branch raises or aborts, 'return' when it returns, else None."""
    how = None
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Raise) or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                                               and node.func.id == "abort"):
                return "raise"
            if isinstance(node, ast.Return):
                how = "return"
    return how


def _rules_asked(func, bound: dict, seen: set, depth: int) -> Asked:
    """The rules `func` asks, following every app function it calls or passes on (with the
    rules and functions passed as arguments bound to the callee's parameters). A rule refuses
    when it is in the test of an `if` that raises or aborts, or under a `not` in the test of
    one that returns early; require_* and get_*_or_404 refuse by themselves."""
    func = inspect.unwrap(func)
    result = Asked()
    key = (func, tuple(sorted((name, id(value)) for name, value in bound.items())))
    if key in seen or depth > 10:
        return result
    seen.add(key)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return result
    scope = dict(vars(builtins)) | func.__globals__
    if func.__closure__:
        scope |= dict(zip(func.__code__.co_freevars, (c.cell_contents for c in func.__closure__), strict=True))

    def resolve(expr):
        if isinstance(expr, ast.Name):
            return bound[expr.id] if expr.id in bound else scope.get(expr.id)
        if isinstance(expr, ast.Attribute):
            base = resolve(expr.value)
            return getattr(base, expr.attr, None) if inspect.ismodule(base) else None
        return None

    def rules_called(expr, under_not: bool) -> set:
        roots = [n.operand for n in ast.walk(expr) if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not)] \
            if under_not else [expr]
        return {resolve(n.func).__name__ for root in roots for n in ast.walk(root)
                if isinstance(n, ast.Call) and _is_rule(resolve(n.func))}

    def follow(callee, call=None):
        binding = {}
        if call is not None:
            try:
                params = list(inspect.signature(callee).parameters)
            except (TypeError, ValueError):
                params = []
            pairs = list(zip(params, call.args, strict=False)) + [(k.arg, k.value) for k in call.keywords]
            binding = {name: resolve(arg) for name, arg in pairs
                       if _is_rule(resolve(arg)) or _is_followed(resolve(arg))}
        inner = _rules_asked(callee, binding, seen, depth + 1)
        result.refusing.update(inner.refusing)
        result.referenced.update(inner.referenced)

    called = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            how = _ends_request(node.body)
            if how:
                result.refusing |= rules_called(node.test, under_not=how == "return")
        if not isinstance(node, ast.Call):
            continue
        called.add(id(node.func))
        callee = resolve(node.func)
        if _is_rule(callee):
            name = callee.__name__
            result.referenced.add(name)
            if name in REQUIRE:
                result.refusing |= {name, REQUIRE[name]}
                result.referenced.add(REQUIRE[name])
            if callee in (policy.get_visible_or_404, policy.get_for_deletion_or_404) and node.args:
                load_rule = loading._VISIBILITY.get(resolve(node.args[0]))
                if load_rule is not None:
                    result.refusing.add(load_rule.__name__)
                    result.referenced.add(load_rule.__name__)
        elif _is_followed(callee):
            follow(callee, node)
    for node in ast.walk(tree):  # rules and functions passed on without being called here
        if isinstance(node, (ast.Name, ast.Attribute)) and id(node) not in called:
            target = resolve(node)
            if _is_rule(target):
                result.referenced.add(target.__name__)
            elif _is_followed(target) and target is not func:
                follow(target)
    return result


@functools.cache
def rules_asked(view) -> Asked:
    return _rules_asked(view, {}, set(), 0)


# --- what the templates show without a guard of their own, and why -----------------------------

# POST routes no template shows as a button or a link.
NO_VISIBLE_ACTION = {
    "accounts.accept_invitation": "opened from the invitation email; its token decides, not a rule",
    "accounts.reset_password": "opened from the reset email; its token decides, not a rule",
    "accounts.verify": "the second step of signing in, reached by the redirect from /login",
    "therapy_sessions.save_shared_note": "posted only from the conflict page, whose action_url the "
                                         "route builds after asking can_edit_shared_note",
    "therapy_sessions.save_clinical_note": "posted only from the conflict page, whose action_url "
                                           "the route builds after asking can_view_clinical_note",
}

# Actions on one's own account or the public sign-in pages: no policy rule applies, and the
# route must ask none (a route that starts asking one must show its action under it).
NO_RULE = {
    "accounts.login": "public",
    "accounts.forgot_password": "public",
    "accounts.logout": "every signed-in person",
    "accounts.account": "her own account page",
    "accounts.change_password": "her own password",
    "accounts.two_factor_setup": "her own two-factor sign-in",
    "accounts.new_recovery_codes": "her own recovery codes",
    "accounts.disable_two_factor": "her own two-factor sign-in",
    "accounts.send_two_factor_link": "her own two-factor sign-in (the link to her own email)",
    "notifications.read_all": "her own notifications",
    "notifications.push_subscribe": "push on for the browser she is using (push.js posts it)",
    "notifications.push_unsubscribe": "push off for one of her own devices (another's: refused alike)",
}

# Actions shown to everyone who may see the page: (endpoint, template) -> (rules, page, why).
# Each rule must be one the POST route refuses with, and one the page's view asks before it
# renders the template.
PAGE_GUARDED = {
    ("homework.feedback", "homework/review/read.html"): (
        ("can_review_reflection",), "homework.read", "the reading view is for her who may review it"),
    ("homework.reviewed", "homework/review/read.html"): (
        ("can_review_reflection",), "homework.read",
        "the reading view is for her who may review it (the button also hides once reviewed: "
        "state, not a rule; a second mark changes nothing)"),
    ("homework.save", "homework/reflections/task.html"): (
        ("is_own_task",), "homework.task",
        "the writing page is the client's own task (the form shows while the task is open; the "
        "service refuses a closed one through can_write_reflection)"),
    ("homework.autosave", "homework/reflections/task.html"): (
        ("is_own_task",), "homework.task", "the autosave of the form above"),
    ("therapy_sessions.add_agenda_item", "therapy_sessions/index.html"): (
        ("is_client",), "therapy_sessions.index",
        "every client's sessions page; the service asks can_add_agenda_item, which is is_client "
        "(and is not a Jinja global)"),
    ("accounts.close_account", "progress/caseload/client.html"): (
        ("can_view_client", "is_therapist"), "progress.client",
        "closing has no rule of its own (no can_close_account): the service asks is_therapist "
        "and can_view_client, the client page's own rules"),
    ("homework.new_exercise", "homework/library/index.html"): (
        ("is_therapist",), "homework.library", "a therapist's page"),
    ("homework.new_exercise", "homework/tasks/assign.html"): (
        ("is_therapist",), "homework.assign", "a therapist's page"),
    ("accounts.new_invitation", "pairs/new.html"): (("is_therapist",), "pairs.new", "a therapist's page"),
    ("accounts.new_invitation", "progress/caseload/index.html"): (
        ("is_therapist",), "progress.caseload", "a therapist's page"),
    ("pairs.new", "progress/caseload/index.html"): (
        ("is_therapist",), "progress.caseload",
        "a therapist's page; NB can_link_pair exists but neither this page nor link_pair asks it"),
    ("therapy_sessions.create_note_template", "therapy_sessions/templates.html"): (
        ("is_therapist",), "therapy_sessions.note_templates_page",
        "a therapist's page: her own templates (each one's buttons ask can_manage_note_template)"),
}

# One form per row of a list the page draws from a policy scope: (endpoint, template) ->
# (scope, rule the route refuses with, page). The scope is the rule as a query (test_policy's
# SCOPES assert them against each other).
LISTED_BY_SCOPE = {
    ("accounts.resend_invitation", "progress/caseload/index.html"): (
        "visible_invitations", "can_manage_invitation", "progress.caseload"),
    ("accounts.revoke_invitation", "progress/caseload/index.html"): (
        "visible_invitations", "can_manage_invitation", "progress.caseload"),
}

# Findings: the visible action does not come from the rule the route refuses with.
KNOWN_MISMATCHES: dict[tuple[str, str], str] = {}  # none left: the findings were mended


def _cases():
    cases = []
    for action in template_actions():
        marks = ()
        reason = KNOWN_MISMATCHES.get((action.endpoint, action.template))
        if reason:
            marks = (pytest.mark.xfail(strict=True, reason=reason),)
        cases.append(pytest.param(action, marks=marks,
                                  id=f"{action.endpoint}@{action.template}:{action.line}"))
    return cases


@pytest.mark.parametrize("action", _cases())
def test_the_visible_action_and_the_refusal_ask_the_same_rule(action):
    views = _routes()[0]
    asked = rules_asked(views[action.endpoint])
    where = f"{action.template}:{action.line} ({action.attribute} -> {action.endpoint})"
    if action.endpoint in NO_RULE:
        assert not asked.refusing, f"{where}: the route now refuses with {sorted(asked.refusing)}: " \
                                   "guard the action with that rule and take it out of NO_RULE"
        return
    if action.guard:
        assert set(action.guard) & asked.refusing, (
            f"{where}: shown on {action.guard}, but the route refuses with {sorted(asked.refusing)}")
        return
    key = (action.endpoint, action.template)
    if key in PAGE_GUARDED:
        rules, page, _why = PAGE_GUARDED[key]
        page_asks = rules_asked(views[page])
        for rule in rules:
            assert rule in asked.refusing, f"{where}: the route does not refuse with {rule}"
            assert rule in page_asks.referenced, f"{where}: the page ({page}) does not ask {rule}"
        return
    if key in LISTED_BY_SCOPE:
        scope, rule, page = LISTED_BY_SCOPE[key]
        assert rule in asked.refusing, f"{where}: the route does not refuse with {rule}"
        assert scope in rules_asked(views[page]).referenced, f"{where}: the page ({page}) does not list {scope}"
        return
    pytest.fail(f"{where}: shown with no policy guard, while the route refuses with "
                f"{sorted(asked.refusing)}: guard it with that rule")


def test_every_post_route_is_accounted_for(_app):
    post_endpoints = sorted(r.endpoint for r in _app.url_map.iter_rules() if "POST" in r.methods)
    assert set(post_endpoints) == _routes()[1], "the app read at collection is not the suite's app"
    shown = {action.endpoint for action in template_actions()}
    unseen = [e for e in post_endpoints if e not in shown and e not in NO_VISIBLE_ACTION]
    assert not unseen, f"POST routes no template shows, and not in NO_VISIBLE_ACTION: {unseen}"
    wrongly = sorted(shown & set(NO_VISIBLE_ACTION))
    assert not wrongly, f"in NO_VISIBLE_ACTION but shown by a template: {wrongly}"


def test_every_table_entry_is_still_an_action():
    actions = {(a.endpoint, a.template) for a in template_actions()}
    for table in (PAGE_GUARDED, LISTED_BY_SCOPE, KNOWN_MISMATCHES):
        stale = sorted(set(table) - actions)
        assert not stale, f"entries for actions no template shows any more: {stale}"
    stale = sorted(set(NO_RULE) - _routes()[1])
    assert not stale, f"NO_RULE names routes that do not take a POST: {stale}"


def test_require_is_the_role_rule():
    for require, rule in REQUIRE.items():
        assert f"if not {rule}(user)" in inspect.getsource(getattr(policy, require))


def test_the_guard_is_the_nearest_if_that_asks_a_rule():
    """The template analysis itself, on a template made for it: `set` is followed, an elif is
    guarded by its own test, an else by nothing of its own (so by the next `if` out)."""
    source = """
    {% set may = can_dissolve_pair(current_user, pair) %}
    {% if is_therapist(current_user) %}
      {% if pair.ended_at %}ended{% elif may %}<form action="{{ url_for('pairs.dissolve', pair_id=1) }}">{% endif %}
      {% if can_leave_pair(current_user, pair) %}-{% else %}
        <a href="{{ url_for('pairs.assign', pair_id=1) }}">{% endif %}
    {% endif %}
    <button formaction="{{ url_for('pairs.leave', pair_id=1) }}">"""
    got = {a.endpoint: (a.attribute, a.guard) for a in actions_in(source, "made-up.html")}
    assert got == {"pairs.dissolve": ("action", ("can_dissolve_pair",)),
                   "pairs.assign": ("href", ("is_therapist",)),
                   "pairs.leave": ("formaction", ())}


def test_the_check_sees_a_guard_and_a_refusal():
    """The analysis itself: it finds the share button's guard and the share route's rule, and
    it would notice a button guarded by another rule."""
    share = [a for a in template_actions() if a.endpoint == "homework.share"]
    assert [a.guard for a in share] == [("can_share_reflection",)]
    from app.homework import sharing_routes
    asked = rules_asked(sharing_routes.share)
    assert "can_share_reflection" in asked.refusing  # asked by pairs.services.share
    assert "can_withdraw_share" not in asked.refusing


# --- behaviour over HTTP ---------------------------------------------------------------------

ACTORS = ["client", "partner", "same_therapist_client", "therapist", "other_therapist", "other_client",
          "anonymous"]


@dataclass(frozen=True)
class Case:
    """One button: the rule, the object, where the button would be, the POST, and what it changes."""

    rule: str
    key: str
    post: Callable  # world -> url
    pages: Callable  # world -> urls where the button would be
    state: Callable  # world -> what the POST changes
    data: dict = field(default_factory=dict)
    prepare: Callable | None = None  # world -> None, before anything is asked
    anyone: bool = True  # somebody may do it (False: the case shows that nobody may)


def _reflection_pages(key):
    return lambda w: (f"/tasks/{w[key].assignment_id}", f"/reflections/{w[key].id}")


def _mark_urgent(w):
    w["reflection"].urgent = True
    db.session.commit()


CASES = {
    "share": Case("can_share_reflection", "reflection", lambda w: f"/reflections/{w['reflection'].id}/share",
                  _reflection_pages("reflection"), lambda w: w["reflection"].shared_at),
    "withdraw share": Case("can_withdraw_share", "shared_reflection",
                           lambda w: f"/reflections/{w['shared_reflection'].id}/unshare",
                           _reflection_pages("shared_reflection"), lambda w: w["shared_reflection"].shared_at),
    "withdraw a share never made": Case("can_withdraw_share", "reflection",
                                        lambda w: f"/reflections/{w['reflection'].id}/unshare",
                                        _reflection_pages("reflection"), lambda w: w["reflection"].shared_at,
                                        anyone=False),
    "cancel task": Case("can_cancel_assignment", "open_task", lambda w: f"/tasks/{w['open_task'].id}/cancel",
                        lambda w: (f"/tasks/{w['open_task'].id}",), lambda w: w["open_task"].status),
    "cancel a sent task": Case("can_cancel_assignment", "submitted_task",
                               lambda w: f"/tasks/{w['submitted_task'].id}/cancel",
                               lambda w: (f"/tasks/{w['submitted_task'].id}",),
                               lambda w: w["submitted_task"].status, anyone=False),
    "delete reflection": Case("can_delete_reflection", "reflection",
                              lambda w: f"/reflections/{w['reflection'].id}/delete",
                              _reflection_pages("reflection"), lambda w: w["reflection"].deleted_at),
    "delete a shared reflection": Case("can_delete_reflection", "shared_reflection",
                                       lambda w: f"/reflections/{w['shared_reflection'].id}/delete",
                                       _reflection_pages("shared_reflection"),
                                       lambda w: w["shared_reflection"].deleted_at),
    "tick agenda item": Case("can_tick_agenda_item", "agenda_item",
                             lambda w: f"/agenda/{w['agenda_item'].id}/done",
                             lambda w: (f"/clients/{w['agenda_item'].client_id}/prep",),
                             lambda w: w["agenda_item"].done_at, data={"next_page": "prep"}),
    "dissolve pair": Case("can_dissolve_pair", "pair", lambda w: f"/pairs/{w['pair'].id}/dissolve",
                          lambda w: (f"/pairs/{w['pair'].id}",), lambda w: w["pair"].ended_at),
    "add addendum": Case("can_add_addendum", "reflection", lambda w: f"/reflections/{w['reflection'].id}/addenda",
                         _reflection_pages("reflection"), lambda w: len(w["reflection"].addenda),
                         data={"body": "One more thing I remembered."}),
    "mark urgent": Case("can_mark_urgent", "reflection", lambda w: f"/reflections/{w['reflection'].id}/urgent",
                        _reflection_pages("reflection"), lambda w: w["reflection"].urgent),
    # once urgent, nobody may mark it again: no button, and a second POST changes nothing
    "mark urgent again": Case("can_mark_urgent", "reflection",
                              lambda w: f"/reflections/{w['reflection'].id}/urgent",
                              _reflection_pages("reflection"), lambda w: w["reflection"].urgent,
                              prepare=_mark_urgent, anyone=False),
    # A session ahead: the confirmation page's button, for her therapist only.
    "cancel a session ahead": Case("can_change_scheduled_session", "upcoming_session",
                                   lambda w: f"/sessions/{w['upcoming_session'].id}/cancel",
                                   lambda w: (f"/sessions/{w['upcoming_session'].id}/cancel",),
                                   lambda w: w["upcoming_session"].cancelled_at),
}
BEHAVIOUR_MISMATCHES: dict[str, str] = {}  # none left: can_mark_urgent now says no once it is urgent


def _fresh_world(case: Case) -> dict:
    db.session.remove()  # let go of the test's transaction before the tables are emptied
    _clean_tables()
    world = build_world()
    world["anonymous"] = AnonymousUserMixin()
    if case.prepare:
        case.prepare(world)
    return world


def _shows(html: str, url: str) -> bool:
    return re.search(rf'\s(?:form)?action="{re.escape(url)}"', html) is not None


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=(pytest.mark.xfail(strict=True, reason=BEHAVIOUR_MISMATCHES[name]),)
                 if name in BEHAVIOUR_MISMATCHES else ())
    for name in CASES])
def test_the_button_shows_exactly_when_the_post_is_accepted(app, name):
    """For each person: the button on the page, the POST accepted (not 403/404, not sent to
    sign in, and it changed what it says it changes), and the rule: all three agree. Each person
    starts from a fresh world, so nobody's accepted POST changes what the next one sees."""
    case = CASES[name]
    world = _fresh_world(case)
    seen = {}
    for actor in ACTORS:
        db.session.rollback()  # read what the requests committed, afresh
        rule = getattr(policy, case.rule)(world[actor], world[case.key])
        before, post_url = case.state(world), case.post(world)
        client = app.test_client()
        if actor != "anonymous":
            login(client, world[actor])
        shown = False
        for page in case.pages(world):
            response = client.get(page, follow_redirects=True)
            shown |= response.status_code == 200 and _shows(response.get_data(as_text=True), post_url)
        response = client.post(post_url, data=case.data)
        db.session.rollback()
        changed = case.state(world) != before
        refused = response.status_code in (403, 404) or "/login" in (response.location or "")
        accepted = changed and not refused
        seen[actor] = dict(rule=rule, button=shown, accepted=accepted, status=response.status_code)
        if changed:
            world = _fresh_world(case)
    disagree = {actor: cells for actor, cells in seen.items()
                if not cells["rule"] == cells["button"] == cells["accepted"]}
    assert not disagree, f"{name}: rule, button and POST disagree for {disagree}"
    assert any(cells["rule"] for cells in seen.values()) == case.anyone, f"{name}: {seen}"

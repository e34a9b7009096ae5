"""Bad input, everywhere: every route of app.url_map, every method, as the people it is for and
as strangers, with awkward URL ids, query strings, form, multipart and JSON bodies. Never a 5xx,
never a traceback, and a refusal a person can read.

Routes come from app.url_map, not from a list: a new route is fuzzed automatically, or this file
fails with "add strategies for route X" when it cannot tell how to fill its URL."""
from __future__ import annotations

import inspect
import os
import re
from urllib.parse import urlsplit

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from wtforms.fields.core import UnboundField

from app import create_app
from config import TestingConfig
from tests import strategies as bad
from tests.conftest import csrf_token_from, login
from tests.test_route_access import ROUTES
from tests.world import build_world

POST_EXAMPLES = int(os.environ.get("CG_BAD_INPUT_POST_EXAMPLES", "8"))
GET_EXAMPLES = int(os.environ.get("CG_BAD_INPUT_GET_EXAMPLES", "4"))
ACTORS = ["anonymous", "therapist", "client", "partner", "other_therapist"]
# Per URL argument, the objects of the world that can fill it (besides the access matrix's own).
ARG_OBJECTS = {
    "client_id": ["client", "partner", "same_therapist_client", "other_client", "therapist"],
    "task_id": ["open_task", "draft_task", "submitted_task"],
    "reflection_id": ["reflection", "shared_reflection"],
    "exercise_id": ["own_exercise", "built_in"],
    "invitation_id": ["invitation"],
    "pair_id": ["pair"],
    "pair_exercise_id": ["pair_exercise"],
    "reply_id": ["reply"],
    "session_id": ["session", "pair_session"],
    "item_id": ["agenda_item"],
}
TOKEN_ARGS = {"token"}
# Run last in their group: they sign people out, close accounts or end the pair.
LAST = ["accounts.logout", "accounts.change_password", "accounts.disable_two_factor", "homework.archive_exercise",
        "accounts.revoke_invitation", "pairs.decline", "pairs.leave", "pairs.dissolve", "accounts.close_account"]
DENIED = {403, 404, "login"}


def _settings(examples: int):
    shrink = os.environ.get("CG_HYPOTHESIS_SHRINK") == "1"
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else []),
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.large_base_example])


# --- the plan: which routes, filled how, by whom ---------------------------------------------

def _rules(app):
    return [(rule, method) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]


def _template_keys(rule) -> dict[str, set[str]]:
    """URL argument -> world keys, read from the access matrix's URL templates for this endpoint."""
    keys: dict[str, set[str]] = {}
    for name, (_, template, _) in ROUTES.items():
        if name.split("#")[0] != rule.endpoint:
            continue
        for rule_part, template_part in zip(rule.rule.split("/"), template.split("/"), strict=False):
            arg = re.fullmatch(r"<(?:\w+:)?(\w+)>", rule_part)
            key = re.fullmatch(r"\{(\w+)\}", template_part)
            if arg and key:
                keys.setdefault(arg.group(1), set()).add(key.group(1))
    return keys


def url_plan(rule) -> dict[str, list[str] | None]:
    """For each URL argument, the world keys that fill it (None: a token, any text)."""
    from_matrix = _template_keys(rule)
    plan = {}
    for arg in rule.arguments:
        if arg in TOKEN_ARGS:
            plan[arg] = None
            continue
        keys = sorted(from_matrix.get(arg, set()) | set(ARG_OBJECTS.get(arg, [])))
        if not keys:
            raise LookupError(f"add strategies for route {rule.endpoint} ({rule.rule}): "
                              f"no objects known for URL argument {arg!r}")
        plan[arg] = keys
    return plan


def actors_for(endpoint: str) -> list[str]:
    """The people a route is for (from the access matrix), then the others."""
    rows = [expected for name, (_, _, expected) in ROUTES.items() if name.split("#")[0] == endpoint]
    allowed = [a for a in ACTORS if any(row.get(a) not in DENIED for row in rows)]
    return allowed or ACTORS


def form_classes_of(view) -> set[type]:
    """The FlaskForm classes a view's module uses."""
    module = inspect.getmodule(view)
    return {v for v in vars(module).values()
            if inspect.isclass(v) and issubclass(v, FlaskForm) and v is not FlaskForm}


def field_names_of(form_class) -> set[str]:
    return {name for name, value in inspect.getmembers(form_class) if isinstance(value, UnboundField)}


_SCRAPED: dict[str, set[str]] = {}


def _scrape(app, world, clients) -> dict[str, set[str]]:
    """Field names per POST endpoint, read from the forms of every GET page as each person
    (once per run: names with an id in their prefix keep it as {arg})."""
    if _SCRAPED:
        return _SCRAPED
    adapter = app.url_map.bind("localhost")
    for rule, method in _rules(app):
        if method != "GET" or rule.arguments - set(ARG_OBJECTS) - set(_template_keys(rule)):
            continue
        plan = url_plan(rule)
        for i in range(max([len(v) for v in plan.values() if v] or [1])):
            values = {arg: world[keys[i % len(keys)]].id for arg, keys in plan.items() if keys}
            if len(values) != len(rule.arguments):
                continue
            url = adapter.build(rule.endpoint, values)
            for actor in ("therapist", "client", "partner", "anonymous"):
                response = clients.get(actor).get(url)
                if response.mimetype != "text/html":
                    continue
                scraper = bad.FormScraper()
                scraper.feed(response.get_data(as_text=True))
                for urls, names in scraper.forms:
                    for action in urls:
                        try:
                            endpoint, args = adapter.match(urlsplit(action).path, method="POST")
                        except Exception:
                            continue
                        for name in names:
                            if "-" in name:
                                prefix, rest = name.split("-", 1)
                                for arg, value in args.items():
                                    prefix = re.sub(rf"(?<!\d){value}(?!\d)", "{%s}" % arg, prefix)
                                name = f"{prefix}-{rest}"
                            _SCRAPED.setdefault(endpoint, set()).add(name)
    return _SCRAPED


def field_names_for(app, rule, scraped) -> set[str]:
    names = set(scraped.get(rule.endpoint, set()))
    for form_class in form_classes_of(app.view_functions[rule.endpoint]):
        names |= field_names_of(form_class)
    if rule.endpoint == "homework.autosave":  # the task page's form, sent by the page's script
        names |= scraped.get("homework.save", set())
    if rule.endpoint == "therapy_sessions.autosave_note":  # the notes' autosave: JSON, from note-draft.js
        names |= {"kind", "body", "base_version", "draft_version", "labels", "sections"}
    names.add("csrf_token")
    return names


# --- people ----------------------------------------------------------------------------------

class People:
    """A signed-in test client per actor, with her CSRF token; signed in again when a request
    signed her out."""

    def __init__(self, app, world):
        self.app, self.world, self._clients, self.tokens = app, world, {}, {}

    def get(self, actor):
        if actor not in self._clients:
            client = self.app.test_client()
            if actor != "anonymous":
                login(client, self.world[actor])
            self._clients[actor] = client
            page = client.get("/login" if actor == "anonymous" else "/account").get_data(as_text=True)
            self.tokens[actor] = csrf_token_from(page)
        return self._clients[actor]

    def forget_if_signed_out(self, actor, response):
        if actor != "anonymous" and response.status_code == 302 and "/login" in (response.location or ""):
            self._clients.pop(actor, None)
        elif actor == "anonymous" and response.status_code == 302:
            self._clients.pop(actor, None)  # a lucky sign-in: start anonymous again


# --- the tests ---------------------------------------------------------------------------------

_collection_app = create_app(TestingConfig)
GROUPS = sorted({rule.endpoint.split(".")[0] for rule, _ in _rules(_collection_app)})


def test_every_route_is_planned(app):
    """Every route of url_map (and every method) has URL strategies and people to send it."""
    covered = set()
    for group in GROUPS:
        for rule, method in _group_rules(app, group):
            url_plan(rule)  # raises "add strategies for route X"
            assert actors_for(rule.endpoint)
            covered.add((rule.endpoint, method))
    assert covered == {(rule.endpoint, method) for rule, method in _rules(app)}
    assert set(GROUPS) == {rule.endpoint.split(".")[0] for rule, _ in _rules(app)}, \
        "a new blueprint appeared: the test collection is stale"


def _group_rules(app, group):
    rules = [(rule, method) for rule, method in _rules(app) if rule.endpoint.split(".")[0] == group]
    return sorted(rules, key=lambda rm: (rm[0].endpoint in LAST, LAST.index(rm[0].endpoint)
                                         if rm[0].endpoint in LAST else 0, rm[0].rule, rm[1]))


def _url(adapter, rule, plan, world, draw):
    values = {}
    for arg, keys in plan.items():
        if keys is None:
            values[arg] = draw(bad.token_value)
        else:
            real = sorted({world[k].id for k in keys if getattr(world.get(k), "id", None)})
            values[arg] = draw(bad.url_value(real))
    # The rule with the raw (possibly odd) segments put in.
    url = rule.rule
    for arg, value in values.items():
        url = re.sub(rf"<(?:\w+:)?{arg}>", lambda _, v=value: v, url)
    return url, values


@pytest.mark.parametrize("group", GROUPS)
def test_no_input_gives_a_server_error(csrf_app, group):
    app = csrf_app
    world = build_world()
    people = People(app, world)
    scraped = _scrape(app, world, people)
    adapter = app.url_map.bind("localhost")
    for rule, method in _group_rules(app, group):
        plan = url_plan(rule)
        actors = actors_for(rule.endpoint)
        weighted = actors * 4 + [a for a in ("anonymous", "other_therapist", "client") if a not in actors]
        names = field_names_for(app, rule, scraped)

        @_settings(POST_EXAMPLES if method == "POST" else GET_EXAMPLES)
        @given(data=st.data())
        def one_request(data):
            actor = data.draw(st.sampled_from(weighted), label="actor")
            client = people.get(actor)
            url, values = _url(adapter, rule, plan, world, data.draw)
            template_names = {n.format(**values) if "{" in n else n for n in names}
            if method == "GET":
                kind, body = "query", data.draw(bad.query_string, label="query")
            else:
                kind = data.draw(st.sampled_from(bad.BODY_KINDS), label="kind")
                if kind in ("form", "multipart"):
                    body = data.draw(bad.form_body(template_names, people.tokens[actor]), label="form")
                elif kind == "json":
                    body = data.draw(bad.json_body(template_names), label="json")
                else:
                    body = data.draw(bad.raw_json_bytes, label="raw json")
            response = bad.send(client, method, url, kind, body, people.tokens[actor])
            bad.check_response(response, f"{actor} {method} {url} ({kind}) {repr(body)[:600]}")
            people.forget_if_signed_out(actor, response)

        one_request()


def test_a_form_part_without_a_readable_name_is_a_clear_refusal(csrf_app):
    """Found by the run above: a multipart part whose name holds a line break has no name once
    parsed, and the CSRF check (reading every name) answered 500."""
    from tests.conftest import make_client, make_therapist

    browser = csrf_app.test_client()
    login(browser, make_client(make_therapist()))
    boundary = "cgboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"a\rb\"\r\n\r\nvalue\r\n"
            f"--{boundary}--\r\n").encode()
    response = browser.post("/account", data=body,
                            content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400

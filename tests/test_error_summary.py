"""Errors once, where she is (issue 17, item 2): a refused send lists every problem at once in an
error summary at the top of her task page, each a link to its field; her words come back; the
character counter under an answer shows only near the limit."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.core.forms import ANSWER_MAX
from app.homework.reflection_forms import COUNT_FROM
from tests.builders_homework import assign, built_in, checked_value, textarea
from tests.conftest import login
from tests.test_reflections import draft_form, stored


class Page(HTMLParser):
    """What the tests look at: every id, the error summary's links and text, each counter."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.summary_links: list[tuple[str, str]] = []  # (href, words)
        self.summary_text = ""
        self.summary_attrs: dict | None = None
        self.counters: dict[str, dict] = {}  # the answer's id -> the counter's attributes and text
        self.textareas: dict[str, dict] = {}
        self._summary_depth = 0
        self._link: list | None = None
        self._counter: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            assert attrs["id"] not in self.ids, f"id {attrs['id']} twice"
            self.ids.add(attrs["id"])
        if tag == "textarea":
            self.textareas[attrs["id"]] = attrs
        if "data-error-summary" in attrs:
            assert self.summary_attrs is None, "one error summary only"
            self.summary_attrs, self._summary_depth = attrs, 1
        elif self._summary_depth and tag == "div":
            self._summary_depth += 1
        if self._summary_depth and tag == "a":
            self._link = [attrs.get("href", ""), ""]
        if tag == "p" and "data-counter-for" in attrs:
            self._counter = attrs["data-counter-for"]
            self.counters[self._counter] = {**attrs, "text": ""}

    def handle_endtag(self, tag):
        if self._summary_depth and tag == "div":
            self._summary_depth -= 1
        if self._link is not None and tag == "a":
            self.summary_links.append((self._link[0], self._link[1].strip()))
            self._link = None
        if tag == "p":
            self._counter = None

    def handle_data(self, data):
        if self._summary_depth:
            self.summary_text += data
        if self._link is not None:
            self._link[1] += data
        if self._counter:
            self.counters[self._counter]["text"] += data


@pytest.fixture
def task(people):
    """An open task with three prompts ('Catch a good moment') for Maria."""
    return assign(people["therapist"], people["client"], built_in("stay_present"), due=0)


def test_a_refused_send_lists_every_problem_at_once_with_links_to_the_fields(client, people, task):
    login(client, people["client"])
    too_long = "Kept word for word. " + "x" * ANSWER_MAX
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["What I noticed at dinner", too_long, ""], stayed_present="partly", action="submit"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    page = Page(html)

    assert page.summary_attrs is not None, "no error summary"
    assert page.summary_attrs.get("tabindex") == "-1"
    assert 'role="alert"' in html
    assert "<title>Error: " in html
    # All three in one answer, in the page's order, each in its own words.
    assert [href for href, _ in page.summary_links] == ["#answer_1", "#resentment-0", "#closeness-0"]
    words = [w for _, w in page.summary_links]
    assert f"longer than {ANSWER_MAX:,} characters" in words[0]
    assert words[1] == "Please choose how strong the resentment felt before sending."
    assert words[2] == "Please choose how close you felt before sending."
    assert "3 answers need a look" in page.summary_text
    for href, _ in page.summary_links:
        assert href[1:] in page.ids, f"{href} names no element of the page"
    # The summary comes before the form's fields: at the top, under the title.
    assert html.index("data-error-summary") < html.index('name="answer_0"')

    # Each field keeps its inline error, tied to it.
    assert page.textareas["answer_1"]["aria-invalid"] == "true"
    assert "answer_1-error" in page.textareas["answer_1"]["aria-describedby"].split()
    assert 'aria-describedby="resentment-error"' in html and 'id="resentment-error"' in html
    assert 'aria-describedby="closeness-error"' in html and 'id="closeness-error"' in html
    assert 'id="stayed_present-error"' not in html

    # Her words and choices come back exactly.
    assert textarea(html, "answer_0") == "What I noticed at dinner"
    assert textarea(html, "answer_1") == too_long
    assert checked_value(html, "stayed_present") == "partly"
    assert stored(task) is None or stored(task).status == "draft"


def test_a_send_with_nothing_chosen_names_every_missing_answer(client, people, task):
    """The service refuses (the form's shape is fine): the draft is kept and all four named."""
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(["", "", ""], action="submit"))
    assert response.status_code == 400
    page = Page(response.get_data(as_text=True))
    assert [href for href, _ in page.summary_links] == [
        "#answer_0", "#resentment-0", "#closeness-0", "#stayed_present-0"]
    assert page.summary_links[0][1] == "Write at least one answer before sending."
    assert page.summary_links[3][1] == "Please choose whether you stayed present before sending."
    assert "Your draft is saved, but it could not be sent yet." in page.summary_text
    assert all(href[1:] in page.ids for href, _ in page.summary_links)


def test_a_refused_draft_save_shows_the_summary_too(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(["Mine"], resentment="99", action="save"))
    assert response.status_code == 400
    page = Page(response.get_data(as_text=True))
    assert page.summary_links == [("#resentment-0", "Choose a number from 0 to 10.")]
    assert "Not saved yet" in page.summary_text


def test_a_valid_send_has_no_summary(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(
        ["Sent"], resentment="3", closeness="4", stayed_present="yes", action="submit"),
        follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "data-error-summary" not in html and "<title>Error: " not in html
    assert stored(task).status == "submitted"


def test_an_open_task_has_no_summary(client, people, task):
    login(client, people["client"])
    html = client.get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "data-error-summary" not in html


@pytest.mark.parametrize("length, shown", [
    (0, False), (12, False), (COUNT_FROM - 1, False), (COUNT_FROM, True), (ANSWER_MAX, True),
])
def test_the_counter_shows_only_near_the_limit(client, people, task, length, shown):
    assert COUNT_FROM == ANSWER_MAX * 8 // 10
    login(client, people["client"])
    client.post(f"/tasks/{task.id}/draft", data=draft_form(["y" * length]))
    page = Page(client.get(f"/tasks/{task.id}").get_data(as_text=True))
    counter = page.counters["answer_0"]
    described = page.textareas["answer_0"].get("aria-describedby", "").split()
    assert ("hidden" not in counter) is shown
    assert ("answer_0-count" in described) is shown  # a hidden count is not read out either
    assert counter["text"].strip() == f"{length:,} / {ANSWER_MAX:,} characters"
    assert "aria-live" not in counter  # no announcement per keystroke
    # The other boxes, empty, show none.
    assert "hidden" in page.counters["answer_1"] and "hidden" in page.counters["answer_2"]
    assert page.textareas["answer_0"]["data-count-from"] == str(COUNT_FROM)


def test_an_answer_over_the_limit_shows_its_counter_with_how_much_to_cut(client, people, task):
    login(client, people["client"])
    response = client.post(f"/tasks/{task.id}", data=draft_form(["z" * (ANSWER_MAX + 5)], action="save"))
    page = Page(response.get_data(as_text=True))
    counter = page.counters["answer_0"]
    assert "hidden" not in counter and "over" in counter["class"].split()
    assert "5 too many; please shorten it" in counter["text"]

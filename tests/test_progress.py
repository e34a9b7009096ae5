"""Progress: chart values from known inputs, well-formed SVG with the expected points (and no
style attributes, for the strict CSP), the client's and the therapist's progress pages with a
table alternative holding the same values, the pair overlay, and the therapist's timeline."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta, timezone
from html import unescape

import pytest

from app.extensions import db
from app.models import Feedback, Reflection
from app.progress.charts import BOTTOM, HEIGHT, TOP, Series, bar_chart, line_chart, ratings_chart
from app.progress.services import Progress, monday_of, present_streaks, resentment_trend, weekly_counts
from tests.builders_homework import assign, days_ago, save_draft, submit
from tests.builders_pairs import link, signed_in
from tests.conftest import make_client

SVG = "{http://www.w3.org/2000/svg}"


# --- pure functions ---------------------------------------------------------------------------

@pytest.mark.parametrize("day, monday", [
    (date(2024, 5, 13), date(2024, 5, 13)),  # a Monday is its own week
    (date(2024, 5, 15), date(2024, 5, 13)),  # Wednesday
    (date(2024, 5, 19), date(2024, 5, 13)),  # Sunday still belongs to the week before
    (date(2024, 1, 3), date(2024, 1, 1)),
    (date(2023, 1, 1), date(2022, 12, 26)),  # across a year boundary
])
def test_monday_of(day, monday):
    assert monday_of(day) == monday


@pytest.mark.parametrize("values, expected", [
    ([], (0, 0)),
    (["yes"], (1, 1)),
    (["no", "partly", None], (0, 0)),
    (["yes", "yes", "no", "yes", "yes", "yes"], (3, 3)),
    (["yes", "yes", "yes", "partly", "yes"], (1, 3)),
    (["yes", "yes", "no"], (0, 2)),
    ([None, "yes", "yes"], (2, 2)),
    (["yes", "yes", "yes", "yes", None, "yes", "yes"], (2, 4)),
])
def test_present_streaks(values, expected):
    assert present_streaks(values) == expected


def test_weekly_counts_puts_each_day_in_its_week_and_drops_older_ones():
    today = date(2024, 5, 15)  # a Wednesday
    days = [date(2024, 5, 13), date(2024, 5, 15), date(2024, 5, 15),  # this week: 3
            date(2024, 5, 12),  # Sunday: the week of 6 May
            date(2024, 4, 22),  # the first week shown
            date(2024, 4, 21)]  # a Sunday before the four weeks: not shown
    assert weekly_counts(days, today, weeks=4) == [
        (date(2024, 4, 22), 1), (date(2024, 4, 29), 0), (date(2024, 5, 6), 1), (date(2024, 5, 13), 3)]


def test_weekly_counts_default_is_twelve_mondays_ending_this_week():
    today = date(2024, 5, 19)
    weeks = weekly_counts([], today)
    assert len(weeks) == 12
    assert weeks[-1] == (date(2024, 5, 13), 0)
    assert weeks[0] == (date(2024, 5, 13) - timedelta(weeks=11), 0)
    assert all(w.weekday() == 0 for w, _ in weeks)


NOW = datetime(2024, 5, 15, 12, 0, tzinfo=timezone.utc)


def _at(days_before: float) -> datetime:
    return NOW - timedelta(days=days_before)


@pytest.mark.parametrize("points, expected", [
    # the two weeks before (days 14-28) against the last two weeks
    ([(_at(20), 8), (_at(18), 7), (_at(5), 4), (_at(2), 5)], "falling"),
    ([(_at(20), 2), (_at(16), 3), (_at(5), 6), (_at(1), 7)], "rising"),
    ([(_at(20), 5), (_at(16), 5), (_at(5), 6), (_at(1), 5)], "steady"),
    ([(_at(20), 6), (_at(3), 5)], "falling"),  # exactly one point lower counts
    ([(_at(20), 6), (_at(3), 7)], "rising"),
    ([(_at(20), 6), (_at(3), 6.5)], "steady"),
    # too little data
    ([], None),
    ([(_at(3), 2), (_at(1), 9)], None),  # nothing in the two weeks before
    ([(_at(20), 2), (_at(16), 9)], None),  # nothing recent
    ([(_at(40), 9), (_at(3), 1)], None),  # older than four weeks does not count
    ([(_at(20), None), (_at(3), 5)], None),  # a missing rating is not a rating
    ([(_at(-1), 9), (_at(20), 2)], None),  # the future does not count either
])
def test_resentment_trend(points, expected):
    assert resentment_trend(points, NOW) == expected


@pytest.mark.parametrize("points, expected", [
    # every rating in the last two weeks (she writes often): her earlier ones against her later
    ([(_at(d), v) for d, v in ((13, 8), (11, 8), (9, 7), (7, 6), (5, 5), (3, 4), (1, 4))], "falling"),
    ([(_at(12), 3), (_at(6), 5), (_at(1), 6)], "rising"),
    ([(_at(12), 5), (_at(6), 9), (_at(1), 5)], "steady"),  # the middle one belongs to neither
    # all of them in the two weeks before: the same
    ([(_at(27), 7), (_at(22), 5), (_at(15), 3), (_at(15), 3)], "falling"),
    # still too little: two ratings, or only a third outside the four weeks
    ([(_at(40), 1), (_at(3), 2), (_at(1), 9)], None),
])
def test_resentment_trend_when_every_rating_is_on_one_side(points, expected):
    """Issue 14, defect 8: a client with seven or more ratings had 'too little data'."""
    assert resentment_trend(points, NOW) == expected


def test_resentment_trend_ignores_missing_ratings_inside_the_window():
    points = [(_at(20), 8), (_at(19), None), (_at(3), None), (_at(2), 3)]
    assert resentment_trend(points, NOW) == "falling"


# --- the SVG ----------------------------------------------------------------------------------

def parse(svg) -> ET.Element:
    root = ET.fromstring(str(svg))
    assert root.tag == f"{SVG}svg"
    return root


def no_style_anywhere(svg) -> None:
    text = str(svg)
    assert "style=" not in text
    assert "<style" not in text
    for element in parse(text).iter():
        assert "style" not in element.attrib


def points_of(root: ET.Element, series: str | None = None) -> list[ET.Element]:
    return [c for c in root.iter(f"{SVG}circle") if c.get("class") == "point"
            and (series is None or c.get("data-series") == series)]


def bars_of(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_line_chart_has_one_point_per_value_higher_values_drawn_higher():
    values = [2, 8, 5, 0, 10]
    start = datetime(2024, 3, 1, 9, tzinfo=timezone.utc)
    series = Series("Resentment", "#a1261b", [(start + timedelta(days=3 * i), v) for i, v in enumerate(values)])
    svg = line_chart("r", "Resentment over time", [series])
    root = parse(svg)
    points = points_of(root)
    assert [int(p.get("data-value")) for p in points] == values
    cy = {int(p.get("data-value")): float(p.get("cy")) for p in points}
    assert cy[10] < cy[8] < cy[5] < cy[2] < cy[0]
    assert cy[10] == pytest.approx(TOP)
    assert cy[0] == pytest.approx(HEIGHT - BOTTOM)
    cx = [float(p.get("cx")) for p in points]
    assert cx == sorted(cx) and len(set(cx)) == len(cx)  # later in time, further right
    # a screen reader hears the same values
    assert root.find(f"{SVG}title").text == "Resentment over time"
    desc = root.find(f"{SVG}desc").text
    assert desc == "Resentment: 1 Mar 2, 4 Mar 8, 7 Mar 5, 10 Mar 0, 13 Mar 10"
    assert root.get("role") == "img"
    no_style_anywhere(svg)


def test_line_chart_with_two_series_keeps_each_series_points_apart():
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    svg = line_chart("two", "Two", [
        Series("Mother & \"her\" <daughter>", "#111111", [(t0, 3), (t0 + timedelta(days=1), 4)]),
        Series("Daughter", "#222222", [(t0 + timedelta(hours=12), 9)], dash="5 3"),
    ])
    root = parse(svg)  # a label with markup characters still gives well-formed XML
    assert [p.get("data-value") for p in points_of(root, 'Mother & "her" <daughter>')] == ["3", "4"]
    assert [p.get("data-value") for p in points_of(root, "Daughter")] == ["9"]
    no_style_anywhere(svg)


def test_a_single_point_is_drawn_inside_the_chart():
    svg = line_chart("one", "One", [Series("Resentment", "#000000", [(date(2024, 3, 1), 7)])])
    (point,) = points_of(parse(svg))
    assert point.get("data-value") == "7"
    assert 0 <= float(point.get("cx")) <= 640 and 0 <= float(point.get("cy")) <= 240


def test_empty_line_chart_says_no_ratings_yet():
    svg = line_chart("empty", "Nothing", [Series("Resentment", "#000", []), Series("Closeness", "#111", [])])
    root = parse(svg)
    assert points_of(root) == []
    assert "No ratings yet" in [t.text for t in root.iter(f"{SVG}text")]
    no_style_anywhere(svg)


def test_bar_chart_has_one_bar_per_week_with_its_count():
    weeks = [(date(2024, 4, 1) + timedelta(weeks=i), count) for i, count in enumerate([0, 3, 1, 7, 0, 2])]
    svg = bar_chart("w", "Reflections per week", weeks)
    root = parse(svg)
    bars = bars_of(root)
    assert [int(b.get("data-value")) for b in bars] == [0, 3, 1, 7, 0, 2]
    heights = {int(b.get("data-value")): float(b.get("height")) for b in bars}
    assert heights[0] == 0 < heights[1] < heights[2] < heights[3] < heights[7]
    xs = [float(b.get("x")) for b in bars]
    assert xs == sorted(xs)
    for bar in bars:  # each bar stands on the same baseline
        assert float(bar.get("y")) + float(bar.get("height")) == pytest.approx(HEIGHT - BOTTOM, abs=0.2)
    assert [b.find(f"{SVG}title").text for b in bars][1] == "Week of 8 Apr: 3"
    no_style_anywhere(svg)


def test_ratings_chart_leaves_out_missing_ratings():
    t0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
    progress = Progress(points=[(t0, 4, None, "yes"), (t0 + timedelta(days=1), None, 6, "no"),
                                (t0 + timedelta(days=2), 2, 8, "yes")])
    root = parse(ratings_chart("ratings", progress))
    assert [p.get("data-value") for p in points_of(root, "Resentment")] == ["4", "2"]
    assert [p.get("data-value") for p in points_of(root, "Closeness")] == ["6", "8"]


# --- the pages ----------------------------------------------------------------------------------

def svgs_in(html: str) -> list[ET.Element]:
    return [parse(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)]


def chart(html: str, chart_id: str) -> ET.Element:
    for root in svgs_in(html):
        if root.find(f"{SVG}title").get("id") == f"{chart_id}-title":
            return root
    raise AssertionError(f"no chart {chart_id}")


def tables(html: str) -> list[list[list[str]]]:
    """Every <table> as rows of cell texts (header row included)."""
    result = []
    for table in re.findall(r"<table\b.*?</table>", html, re.DOTALL):
        rows = []
        for row in re.findall(r"<tr\b.*?</tr>", table, re.DOTALL):
            cells = re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.DOTALL)
            rows.append([" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells])
        result.append(rows)
    return result


def table_headed(html: str, first_header: str) -> list[list[str]]:
    for rows in tables(html):
        if rows and rows[0] and rows[0][0] == first_header:
            return rows[1:]
    raise AssertionError(f"no table headed {first_header}")


RATED = [  # (days ago, resentment, closeness, stayed present), oldest first
    (24, 8, 2, "yes"),
    (17, 7, 3, "yes"),
    (10, 5, 5, "yes"),
    (6, 4, 6, "partly"),
    (3, 3, 7, "yes"),
    (1, 2, 9, "yes"),
]


def rate_over_time(therapist, client, rated=RATED) -> list[Reflection]:
    reflections = []
    for days, resentment, closeness, present in rated:
        task = assign(therapist, client, due=1)
        reflections.append(submit(client, task, ratings={"resentment": resentment, "closeness": closeness,
                                                         "stayed_present": present},
                                  submitted_at=days_ago(days)))
    return reflections


def check_progress_page(html: str, rated=RATED) -> None:
    ratings = chart(html, "ratings")
    assert [int(p.get("data-value")) for p in points_of(ratings, "Resentment")] == [r[1] for r in rated]
    assert [int(p.get("data-value")) for p in points_of(ratings, "Closeness")] == [r[2] for r in rated]
    svg_html = re.findall(r"<svg\b.*?</svg>", html, re.DOTALL)
    assert svg_html and all("style=" not in s for s in svg_html)
    # the table alternative: the same values, newest first
    rows = table_headed(html, "Sent")
    assert [(int(r[1]), int(r[2]), r[3]) for r in rows] == [(r[1], r[2], r[3]) for r in reversed(rated)]
    # reflections per week: the bars and the table agree, and add up to what was sent
    weekly = chart(html, "weekly")
    bar_values = [int(b.get("data-value")) for b in bars_of(weekly)]
    week_rows = table_headed(html, "Week of")
    assert len(bar_values) == len(week_rows) == 12
    assert bar_values == [int(r[1]) for r in week_rows]
    assert sum(bar_values) == len(rated)


def test_client_progress_page_shows_her_charts_with_a_table_alternative(app, people):
    therapist, maria = people["therapist"], people["client"]
    rate_over_time(therapist, maria)
    # someone else's ratings are not hers
    rate_over_time(therapist, people["other_client_same_therapist"], [(2, 10, 0, "no")])
    response = signed_in(app, maria).get("/progress")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    check_progress_page(html)
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert "2 reflections in a row where you stayed present · longest run: 3." in text
    assert "Resentment over the last four weeks: falling" in text


def test_client_progress_page_with_nothing_sent_says_so(app, people):
    maria = people["client"]
    task = assign(people["therapist"], maria, due=1)
    save_draft(maria, task, ratings={"resentment": 9, "closeness": 1, "stayed_present": "no"})
    html = signed_in(app, maria).get("/progress").get_data(as_text=True)
    ratings = chart(html, "ratings")
    assert points_of(ratings) == []  # a draft's ratings are not progress yet
    assert "No ratings yet" in [t.text for t in ratings.iter(f"{SVG}text")]
    assert sum(int(b.get("data-value")) for b in bars_of(chart(html, "weekly"))) == 0


def test_progress_page_is_for_clients(app, people):
    assert signed_in(app, people["therapist"]).get("/progress").status_code == 403
    assert app.test_client().get("/progress").status_code == 302


def test_therapist_client_page_shows_the_same_charts_and_table(app, people):
    therapist, maria = people["therapist"], people["client"]
    rate_over_time(therapist, maria)
    response = signed_in(app, therapist).get(f"/clients/{maria.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    check_progress_page(html)
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert f"2 reflections in a row where {maria.name} stayed present · longest run: 3." in text
    # another therapist sees nothing of it
    assert signed_in(app, people["other_therapist"]).get(f"/clients/{maria.id}").status_code == 404


def test_pair_page_overlays_both_members_ratings(app, people):
    therapist, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    pair = link(therapist, maria, elena)
    rate_over_time(therapist, maria, [(10, 8, 2, "no"), (3, 6, 4, "yes")])
    rate_over_time(therapist, elena, [(9, 2, 8, "yes"), (5, 3, 7, "yes"), (1, 9, 1, "no")])
    rate_over_time(therapist, make_client(therapist), [(2, 5, 5, "yes")])  # not in the pair
    html = signed_in(app, therapist).get(f"/pairs/{pair.id}").get_data(as_text=True)
    root = chart(html, "pair-ratings")
    series = {p.get("data-series") for p in points_of(root)}
    maria_label = f"{maria.name} (mother)"
    elena_label = f"{elena.name} (daughter)"
    assert series == {maria_label, elena_label}
    assert [p.get("data-value") for p in points_of(root, maria_label)] == ["8", "6"]
    assert [p.get("data-value") for p in points_of(root, elena_label)] == ["2", "3", "9"]
    # both on one time axis: Elena's last point (1 day ago) is the furthest right
    cx = {(p.get("data-series"), p.get("data-value")): float(p.get("cx")) for p in points_of(root)}
    assert cx[(maria_label, "8")] < cx[(elena_label, "2")] < cx[(maria_label, "6")] < cx[(elena_label, "9")]
    assert "style=" not in re.search(r"<svg\b.*?</svg>", html, re.DOTALL).group(0)


def test_chart_dates_are_the_days_on_her_calendar(app, people):
    """Sent at 20:00 UTC is the next morning in Auckland: the chart, the table and the weekly
    count all say the next day."""
    therapist = people["therapist"]
    kiri = make_client(therapist, "Kiri", timezone="Pacific/Auckland")
    sunday = date.today() - timedelta(days=date.today().weekday() + 8)  # Sunday of last week but one
    sent = datetime(sunday.year, sunday.month, sunday.day, 20, 0, tzinfo=timezone.utc)
    submit(kiri, assign(therapist, kiri, due=1), ratings={"resentment": 4, "closeness": 6,
                                                            "stayed_present": "yes"}, submitted_at=sent)
    monday = sunday + timedelta(days=1)  # her day: Monday morning
    html = signed_in(app, kiri).get("/progress").get_data(as_text=True)
    (point,) = points_of(chart(html, "ratings"), "Resentment")
    label = f"{monday.day} {monday.strftime('%b')}"
    assert point.find(f"{SVG}title").text == f"Resentment, {label}: 4"
    (row,) = table_headed(html, "Sent")
    assert row[0].startswith(f"{label} {monday.year}, ")
    weekly = dict((r[0], int(r[1])) for r in table_headed(html, "Week of"))
    assert weekly[monday.strftime("%a ") + f"{monday.day} " + monday.strftime("%b %Y")] == 1


# --- the therapist's timeline -----------------------------------------------------------------------

def timeline_items(html: str) -> list[str]:
    match = re.search(r'<ul class="timeline">(.*?)</ul>', html, re.DOTALL)
    assert match, "no timeline"
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", match.group(1), re.DOTALL)]


def test_timeline_shows_tasks_reflections_feedback_and_sessions_newest_first(app, people):
    from tests.builders_sessions import record

    therapist, maria = people["therapist"], people["client"]
    first = assign(therapist, maria, due=1, title="Walk in the park")
    reflection = submit(maria, first, submitted_at=days_ago(7))
    first.created_at = days_ago(10)
    db.session.add(Feedback(reflection_id=reflection.id, therapist_id=therapist.id,
                            body="Thank you for this.", created_at=days_ago(5)))
    db.session.commit()
    record(therapist, maria, starts_at=days_ago(2))
    latest = assign(therapist, maria, due=3, title="Notice a quiet moment")
    latest.created_at = days_ago(1)
    draft_task = assign(therapist, maria, due=3, title="Still a draft")
    draft_task.created_at = days_ago(12)
    db.session.commit()
    save_draft(maria, draft_task)
    # others' events never appear
    elena = people["other_client_same_therapist"]
    submit(elena, assign(therapist, elena, due=1, title="Elena's own task"), submitted_at=days_ago(4))

    html = signed_in(app, therapist).get(f"/clients/{maria.id}").get_data(as_text=True)
    items = timeline_items(html)
    kinds = [re.sub(r"^\S+ \S+ \S+, \S+ · ", "", item) for item in items]
    assert kinds == [
        "Task given: Notice a quiet moment",
        "Session",
        "Feedback written on Walk in the park",
        "Reflection sent: Walk in the park",
        "Task given: Walk in the park",
        "Task given: Still a draft",
    ]
    assert "Elena" not in " ".join(items)
    assert f'href="/reflections/{reflection.id}"' in html

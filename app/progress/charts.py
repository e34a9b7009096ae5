"""Charts drawn on the server as SVG: no JavaScript, readable on a phone, printable.

Only presentation attributes are used (no style attributes), so the strict CSP holds. Every
chart carries a title and description for screen readers; pages also show a table."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 12, 14, 34


@dataclass(frozen=True)
class Series:
    label: str
    colour: str
    points: list  # [(datetime or date, value)], oldest first
    dash: str | None = None


def _x_scale(start: float, end: float):
    span = (end - start) or 1.0
    return lambda t: LEFT + (t - start) / span * (WIDTH - LEFT - RIGHT)


def _y_scale(y_max: float):
    return lambda v: TOP + (1 - v / y_max) * (HEIGHT - TOP - BOTTOM)


def _ts(value) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime(value.year, value.month, value.day).timestamp()


def _fmt_day(value) -> str:
    return value.strftime("%-d %b")


def _frame(chart_id: str, title: str, description: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>' + "".join(body) + "</svg>"
    )


def _y_axis(y_max: int, ticks: list[int]) -> list[str]:
    y = _y_scale(y_max)
    parts = []
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                     f'stroke="#dcd8cf" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="13" '
                     f'fill="#56646a">{tick}</text>')
    return parts


def line_chart(chart_id: str, title: str, series: list[Series], y_max: int = 10) -> Markup:
    """Values (0..y_max) over time, one line per series, a dot per value."""
    all_points = [p for s in series for p in s.points]
    description = "; ".join(
        f"{s.label}: " + (", ".join(f"{_fmt_day(t)} {v}" for t, v in s.points) or "no values")
        for s in series)
    body = _y_axis(y_max, [0, 5, 10] if y_max == 10 else [0, y_max // 2, y_max])
    if not all_points:
        body.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13" '
                    f'fill="#56646a">No ratings yet</text>')
        return _frame(chart_id, title, "No ratings yet.", body)
    times = [_ts(t) for t, _ in all_points]
    x, y = _x_scale(min(times), max(times)), _y_scale(y_max)
    for s in series:
        coords = [(x(_ts(t)), y(v)) for t, v in s.points]
        if len(coords) > 1:
            dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
            body.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="2"{dash} points="'
                        + " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords) + '"/>')
        for (cx, cy), (t, v) in zip(coords, s.points, strict=False):
            body.append(f'<circle class="point" data-series="{escape(s.label)}" data-value="{v}" '
                        f'cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{s.colour}">'
                        f'<title>{escape(s.label)}, {_fmt_day(t)}: {v}</title></circle>')
    first, last = min(all_points, key=lambda p: _ts(p[0]))[0], max(all_points, key=lambda p: _ts(p[0]))[0]
    body.append(f'<text x="{LEFT}" y="{HEIGHT - 12}" font-size="13" fill="#56646a">{_fmt_day(first)}</text>')
    body.append(f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 12}" text-anchor="end" font-size="13" '
                f'fill="#56646a">{_fmt_day(last)}</text>')
    legend_x = LEFT + 80
    for s in series:
        body.append(f'<rect x="{legend_x}" y="{HEIGHT - 21}" width="10" height="10" fill="{s.colour}"/>'
                    f'<text x="{legend_x + 14}" y="{HEIGHT - 12}" font-size="13" fill="#1f2a2e">'
                    f'{escape(s.label)}</text>')
        legend_x += 14 + 8 * len(s.label) + 18
    return _frame(chart_id, title, description, body)


def bar_chart(chart_id: str, title: str, bars: list[tuple[date, int]]) -> Markup:
    """One bar per week (the week's Monday, count)."""
    top = max([count for _, count in bars] + [4])
    body = _y_axis(top, [0, top // 2, top])
    y = _y_scale(top)
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    for i, (week, count) in enumerate(bars):
        bx = LEFT + i * slot + slot * 0.15
        body.append(f'<rect class="bar" data-value="{count}" x="{bx:.1f}" y="{y(count):.1f}" '
                    f'width="{slot * 0.7:.1f}" height="{y(0) - y(count):.1f}" fill="#2f6b5f">'
                    f'<title>Week of {_fmt_day(week)}: {count}</title></rect>')
        if i % max(1, len(bars) // 6) == 0:
            body.append(f'<text x="{bx:.1f}" y="{HEIGHT - 12}" font-size="13" fill="#56646a">'
                        f'{_fmt_day(week)}</text>')
    description = ", ".join(f"week of {_fmt_day(w)}: {c}" for w, c in bars) or "no weeks"
    return _frame(chart_id, title, description, body)


RESENTMENT_COLOUR, CLOSENESS_COLOUR = "#a1261b", "#2f6b5f"


def ratings_chart(chart_id: str, progress) -> Markup:
    """Resentment and closeness over time from a Progress."""
    resentment = [(p[0], p[1]) for p in progress.points if p[1] is not None]
    closeness = [(p[0], p[2]) for p in progress.points if p[2] is not None]
    return line_chart(chart_id, "Resentment and closeness over time (0 to 10)", [
        Series("Resentment", RESENTMENT_COLOUR, resentment),
        Series("Closeness", CLOSENESS_COLOUR, closeness, dash="5 3"),
    ])


def weekly_chart(chart_id: str, progress) -> Markup:
    return bar_chart(chart_id, "Reflections sent per week", progress.weekly)


def pair_chart(chart_id: str, members: list[tuple[str, list]]) -> Markup:
    """Both members' resentment on one chart: where they saw the same weeks differently."""
    colours = [RESENTMENT_COLOUR, "#1a5fb4"]
    return line_chart(chart_id, "Resentment over time, both members (0 to 10)", [
        Series(f"{label}", colours[i % 2], [(p[0], p[1]) for p in points if p[1] is not None],
               dash=None if i == 0 else "5 3")
        for i, (label, points) in enumerate(members)
    ])

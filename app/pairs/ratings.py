"""A pair's quick ratings side by side on the therapist's pair page, with the gap between the
two members per exercise and how that gap moved over the last few exercises both sent."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.models import REFLECTION_SUBMITTED, Pair

if TYPE_CHECKING:  # the pair page's rows; not imported at run time, so homework may use gap()
    from app.pairs.seeing import PairRow

GAP_TREND_WINDOW = 4  # the trend line reads the last few pair exercises both sent


@dataclass
class PairRatings:
    """The pair page's ratings table: one line per pair exercise, oldest first (each member's
    ratings once sent; the gap where both sent), and the trend of the gap, per rating."""

    lines: list[dict]
    trend: list[dict]


def gap(a, b) -> int | None:
    """How far apart two 0-10 ratings are (None unless both were given)."""
    return abs(a - b) if isinstance(a, int) and isinstance(b, int) else None


def compare(mine, theirs, labels) -> list[dict]:
    """Two reflections' quick ratings side by side, one dict per (key, label), with the gap
    (either reflection may be None: not sent, or not shared with the reader)."""
    rows = []
    for key, label in labels:
        a = getattr(mine, key) if mine is not None else None
        b = getattr(theirs, key) if theirs is not None else None
        rows.append({"label": label, "mine": a, "theirs": b, "gap": gap(a, b)})
    return rows


def ratings_side_by_side(rows: list[PairRow], pair: Pair) -> PairRatings:
    """Both members' ratings per pair exercise, oldest first, with the gap between them (where
    both sent), a flag where they saw it differently, and how the gap moved over time."""
    lines = []
    for row in reversed(rows):
        cells = {}
        for member in pair.members:
            task = row.by_member.get(member.user_id)
            r = task.reflection if task is not None else None
            sent = r is not None and r.status == REFLECTION_SUBMITTED and r.deleted_at is None
            cells[member.user_id] = (r.resentment, r.closeness, r.stayed_present) if sent else None
        values = [c for c in cells.values() if c is not None]
        gaps = ({"resentment": gap(values[0][0], values[1][0]),
                 "closeness": gap(values[0][1], values[1][1])} if len(values) == 2 else None)
        differently = gaps is not None and any(g is not None and g >= 3 for g in gaps.values())
        lines.append({"row": row, "cells": cells, "gap": gaps, "differently": differently})
    return PairRatings(lines, _gap_trend(lines))


def _gap_trend(lines: list[dict]) -> list[dict]:
    """Per rating, over the last GAP_TREND_WINDOW exercises both sent (at least two): the gap
    at the start and at the end, its lowest and highest, and which way it went."""
    trend = []
    for rating in ("resentment", "closeness"):
        gaps = [line["gap"][rating] for line in lines
                if line["gap"] is not None and line["gap"][rating] is not None]
        window = gaps[-GAP_TREND_WINDOW:]
        if len(window) < 2:
            continue
        start, end = window[0], window[-1]
        direction = ("narrowed" if end < start else "widened" if end > start
                     else "steady" if min(window) == max(window) else "back")
        trend.append({"rating": rating, "start": start, "end": end, "low": min(window),
                      "high": max(window), "count": len(window), "all": len(window) == len(gaps),
                      "direction": direction})
    return trend

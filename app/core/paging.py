"""One query per page of a list: the rows and the total together (a window count), instead of
Flask-SQLAlchemy's paginate(), which asks for the total in a second query."""
from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa

from app.extensions import db

# A huge ?page= would overflow the database's OFFSET; past the end is simply an empty page.
MAX_PAGE = 100_000


@dataclass
class Page:
    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page)) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def paginate(query: sa.Select, page: int, per_page: int, rows: bool = False) -> Page:
    """A page of `query` (already ordered). Items are the first entity of each row, or whole
    rows with `rows=True` (when the query selects extra columns). Eager loads must be to-one:
    a joined collection would multiply the rows the window counts."""
    page = min(max(page, 1), MAX_PAGE)
    total_column = sa.func.count().over().label("_total")
    result = db.session.execute(
        query.add_columns(total_column).limit(per_page).offset((page - 1) * per_page)
    ).unique().all()
    if result:
        total = result[-1][-1]
    elif page > 1:  # past the end: the window saw no rows, so count them apart (rare)
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    else:
        total = 0
    items = [tuple(row[:-1]) if rows else row[0] for row in result]
    return Page(items=items, page=page, per_page=per_page, total=total)

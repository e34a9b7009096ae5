"""The people in a pair are family: a client's pages never call the other member her
"partner" (DOMAIN: "Partner" may appear in code, never on a client's page). Every page each demo
client reaches by following links, read as she reads it (tags dropped), is searched."""
import re
from html import unescape

import sqlalchemy as sa

from app.extensions import db
from app.models import User
from app.ops.demo import DEMO_PEOPLE, seed_demo
from tests.test_html_valid import Page, _crawl, _sign_in


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.DOTALL)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_no_client_page_says_partner(csrf_app):
    seed_demo()
    found, reached = [], 0
    for person in DEMO_PEOPLE:
        if person.role != "client":
            continue
        user = db.session.scalar(sa.select(User).where(User.email == person.email))
        client = csrf_app.test_client()
        pages: list[Page] = []
        broken: list[str] = []
        _sign_in(client, user, pages)
        _crawl(client, person.email, pages, broken)
        assert not broken, broken
        reached += len(pages)
        for page in pages:
            text = _visible_text(page.html)
            for match in re.finditer(r".{0,60}\bpartners?\b.{0,60}", text, re.IGNORECASE):
                found.append(f"{page.label}: …{match.group(0)}…")
    assert reached > 50, f"the crawl reached only {reached} pages"
    assert not found, "\n".join(found)

"""A person's own name and time zone; times on her pages follow her zone."""
from datetime import datetime, timezone

from app.extensions import db
from app.models import User
from tests.conftest import login


def test_client_changes_name_and_time_zone(client, people):
    maria = people["client"]
    login(client, maria)
    response = client.post("/account", data={"name": "  Maria   L. ", "timezone": "America/New_York"})
    assert response.status_code == 302
    db.session.expire_all()
    user = db.session.get(User, maria.id)
    assert (user.name, user.timezone) == ("Maria L.", "America/New_York")


def test_unknown_time_zone_is_a_form_error_and_changes_nothing(client, people):
    maria = people["client"]
    login(client, maria)
    response = client.post("/account", data={"name": "Maria", "timezone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert b"Not a valid choice" in response.data or b"choose a time zone" in response.data
    db.session.expire_all()
    assert db.session.get(User, maria.id).timezone == "Europe/London"


def test_times_are_shown_in_the_readers_zone(client, people):
    therapist = people["therapist"]
    maria = people["client"]
    maria.created_at = datetime(2026, 7, 1, 23, 30, tzinfo=timezone.utc)
    therapist.timezone = "Asia/Tokyo"
    db.session.commit()
    login(client, therapist)
    page = client.get(f"/clients/{maria.id}").get_data(as_text=True)
    assert "2 Jul 2026, 08:30" in page  # 23:30 UTC is 08:30 the next morning in Tokyo

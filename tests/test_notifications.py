"""Notifications: in the app for the right person only, with an unread count; opening and marking
read; email (off by default for clients) that never carries content and is sent only after the
change commits; `flask send-reminders`, which never reminds twice."""
from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app.core.clock import today_for
from app.extensions import db
from app.homework import review as review_services
from app.models import TASK_CANCELLED, Notification, ReminderSent, User, utcnow
from app.notifications.services import EMAIL_SUBJECT, notify, send_reminders
from app.pairs import services as pair_services
from app.therapy_sessions import services as session_services
from tests.builders_homework import assign, submit
from tests.builders_pairs import give_to_pair, link, signed_in, text_of
from tests.conftest import make_client, make_therapist


def all_notes() -> Counter:
    """(user id, kind) -> how many, for everyone."""
    db.session.expire_all()
    return Counter((n.user_id, n.kind) for n in db.session.scalars(sa.select(Notification)))


def new_since(before: Counter) -> Counter:
    return all_notes() - before


def unread_in_nav(response) -> int:
    html = response.get_data(as_text=True)
    match = re.search(r'<span class="nav-count">(\d+)<span class="visually-hidden"> unread</span></span>', html)
    if match is None:
        assert ">Notifications</a>" in html
        return 0
    return int(match.group(1))


# --- who is told what ---------------------------------------------------------------------------

def test_new_task_notifies_the_client_only(app, people):
    before = all_notes()
    task = assign(people["therapist"], people["client"], due=2)
    assert new_since(before) == Counter({(people["client"].id, "new_task"): 1})
    # a repeating exercise is one notification, not one per occurrence
    from app.homework.tasks import assign_exercise

    before = all_notes()
    assign_exercise(people["therapist"], people["client"], task.exercise, due_date=task.due_date,
                    today=today_for(people["client"]), repeat="daily", times=5)
    assert new_since(before) == Counter({(people["client"].id, "new_task"): 1})


def test_new_reflection_notifies_her_therapist_only(app, people):
    task = assign(people["therapist"], people["client"], due=1)
    before = all_notes()
    reflection = submit(people["client"], task)
    assert new_since(before) == Counter({(people["therapist"].id, "new_reflection"): 1})
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "new_reflection"))
    assert note.link == f"/reflections/{reflection.id}"


def test_new_feedback_notifies_the_author_only(app, people):
    task = assign(people["therapist"], people["client"], due=1)
    reflection = submit(people["client"], task)
    before = all_notes()
    review_services.give_feedback(people["therapist"], reflection, "Well noticed.", True)
    assert new_since(before) == Counter({(people["client"].id, "new_feedback"): 1})


def test_pair_invitation_notifies_both_members_only(app, people):
    t, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    before = all_notes()
    pair = pair_services.link_pair(t, maria, "mother", elena, "daughter")
    assert new_since(before) == Counter({(maria.id, "pair_invitation"): 1, (elena.id, "pair_invitation"): 1})
    assert {n.link for n in db.session.scalars(sa.select(Notification))} == {f"/pairs/{pair.id}"}


def test_partner_shared_notifies_the_partner_only(app, people):
    t, maria, elena = people["therapist"], people["client"], people["other_client_same_therapist"]
    pair = link(t, maria, elena)
    _, tasks = give_to_pair(t, pair)
    reflection = submit(maria, tasks[maria.id])
    before = all_notes()
    pair_services.share(maria, reflection)
    assert new_since(before) == Counter({(elena.id, "partner_shared"): 1})
    before = all_notes()
    pair_services.share(maria, reflection)  # already shared: nothing new
    assert new_since(before) == Counter()


def test_agenda_item_notifies_her_therapist_only(app, people):
    before = all_notes()
    session_services.add_agenda_item(people["client"], "Christmas plans")
    assert new_since(before) == Counter({(people["therapist"].id, "agenda_item"): 1})


def test_no_notification_stores_any_content(app, people):
    task = assign(people["therapist"], people["client"], due=1)
    reflection = submit(people["client"], task, answers=["SECRET-ANSWER"])
    review_services.give_feedback(people["therapist"], reflection, "SECRET-FEEDBACK", True)
    session_services.add_agenda_item(people["client"], "SECRET-AGENDA")
    for note in db.session.scalars(sa.select(Notification)):
        assert "SECRET" not in f"{note.kind} {note.link}"


# --- reading them -----------------------------------------------------------------------------

def test_unread_count_in_nav_and_list(app, people):
    maria = people["client"]
    browser = signed_in(app, maria)
    assert unread_in_nav(browser.get("/home")) == 0
    task = assign(people["therapist"], maria, due=1)
    reflection = submit(maria, task)
    review_services.give_feedback(people["therapist"], reflection, "Thank you.", True)
    assert unread_in_nav(browser.get("/home")) == 2
    page = text_of(browser.get("/notifications"))
    assert "A new exercise from your therapist" in page
    assert "New feedback on one of your reflections" in page
    assert "Email for these is off." in page
    # the therapist's count is her own
    assert unread_in_nav(signed_in(app, people["therapist"]).get("/caseload")) == 1
    assert unread_in_nav(signed_in(app, people["other_client_same_therapist"]).get("/home")) == 0


def test_opening_marks_read_and_goes_to_its_link(app, people):
    maria = people["client"]
    task = assign(people["therapist"], maria, due=1)
    reflection = submit(maria, task)
    review_services.give_feedback(people["therapist"], reflection, "Thank you.", True)
    note = db.session.scalar(sa.select(Notification).where(Notification.kind == "new_feedback"))
    browser = signed_in(app, maria)
    response = browser.post(f"/notifications/{note.id}/open")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/tasks/{task.id}"
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is not None
    assert unread_in_nav(browser.get(response.headers["Location"])) == 1  # the task one stays
    # opening it again still leads there
    assert browser.post(f"/notifications/{note.id}/open").headers["Location"] == f"/tasks/{task.id}"


@pytest.mark.parametrize("link", ["//evil.example/x", "https://evil.example/", "javascript:alert(1)"])
def test_opening_never_leads_off_site(app, people, link):
    maria = people["client"]
    note = Notification(user_id=maria.id, kind="new_task", link=link)
    db.session.add(note)
    db.session.commit()
    response = signed_in(app, maria).post(f"/notifications/{note.id}/open")
    assert response.headers["Location"] == "/"


def test_someone_elses_notification_is_404_and_stays_unread(app, people):
    assign(people["therapist"], people["client"], due=1)
    note = db.session.scalar(sa.select(Notification))
    for intruder in (people["other_client_same_therapist"], people["therapist"], people["other_therapist"]):
        assert signed_in(app, intruder).post(f"/notifications/{note.id}/open").status_code == 404
    assert signed_in(app, people["client"]).post("/notifications/999999/open").status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is None
    assert app.test_client().post(f"/notifications/{note.id}/open").status_code == 302  # to sign in


def test_opening_without_the_csrf_token_changes_nothing(app, people):
    from tests.conftest import csrf_token_from

    assign(people["therapist"], people["client"], due=1)
    note = db.session.scalar(sa.select(Notification))
    browser = signed_in(app, people["client"])
    app.config["WTF_CSRF_ENABLED"] = True  # from here on, as in production
    assert browser.post(f"/notifications/{note.id}/open").status_code == 400
    assert browser.post("/notifications/read").status_code == 400
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is None
    token = csrf_token_from(browser.get("/notifications").get_data(as_text=True))
    assert browser.post(f"/notifications/{note.id}/open", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Notification, note.id).read_at is not None


def test_mark_all_read(app, people):
    maria = people["client"]
    for due in (1, 2, 3):
        assign(people["therapist"], maria, due=due)
    session_services.add_agenda_item(maria, "Something")  # her therapist's, not hers
    browser = signed_in(app, maria)
    assert unread_in_nav(browser.get("/home")) == 3
    response = browser.post("/notifications/read")
    assert response.status_code == 302
    assert unread_in_nav(browser.get("/home")) == 0
    db.session.expire_all()
    assert all(n.read_at is not None for n in db.session.scalars(
        sa.select(Notification).where(Notification.user_id == maria.id)))
    assert db.session.scalar(sa.select(Notification).where(
        Notification.user_id == people["therapist"].id)).read_at is None
    assert "new</span>" not in browser.get("/notifications").get_data(as_text=True)


# --- email ------------------------------------------------------------------------------------

def turn_email_on(browser, user: User) -> None:
    response = browser.post("/account", data={"name": user.name, "timezone": "Europe/London",
                                              "email_notifications": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, user.id).email_notifications is True


def test_email_is_off_by_default_for_clients(app, people, mailbox):
    maria = people["client"]
    assert maria.email_notifications is False
    task = assign(people["therapist"], maria, due=1)
    reflection = submit(maria, task)
    review_services.give_feedback(people["therapist"], reflection, "Thank you.", True)
    pair_services.link_pair(people["therapist"], maria, "mother", people["other_client_same_therapist"], "daughter")
    assert mailbox.messages == []
    assert len(all_notes()) == 5  # the in-app ones are there (hers, her therapist's, Elena's)


def test_turning_email_on_sends_one_email_without_content(app, people, mailbox):
    therapist, maria = people["therapist"], people["client"]
    task = assign(therapist, maria, due=1, title="TITLE-SENTINEL walk together")
    reflection = submit(maria, task, answers=["ANSWER-SENTINEL what happened"])
    client_browser = signed_in(app, maria)
    turn_email_on(client_browser, maria)
    assert mailbox.messages == []

    response = signed_in(app, therapist).post(f"/reflections/{reflection.id}/feedback",
                                              data={"body": "FEEDBACK-SENTINEL you did well",
                                                    "mark_reviewed": "y"})
    assert response.status_code == 302
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == maria.email
    assert message["Subject"] == EMAIL_SUBJECT == "You have something new in Common Ground"
    body = mailbox.body(message)
    for sentinel in ("FEEDBACK-SENTINEL", "TITLE-SENTINEL", "ANSWER-SENTINEL", "walk together",
                     "you did well", "what happened"):
        assert sentinel not in body
        assert sentinel not in message["Subject"]
    assert "You have something new in Common Ground" in body
    (link_url,) = mailbox.links(message)
    assert link_url.endswith(f"/tasks/{task.id}")
    # the link works for her, and shows the feedback once she is signed in
    path = re.sub(r"^https?://[^/]+", "", link_url)
    page = client_browser.get(path).get_data(as_text=True)
    assert "FEEDBACK-SENTINEL" in page
    # and it leads a stranger to sign in, not to the content
    anonymous = app.test_client().get(path)
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_turning_email_off_again_stops_them(app, people, mailbox):
    maria = people["client"]
    browser = signed_in(app, maria)
    turn_email_on(browser, maria)
    assign(people["therapist"], maria, due=1)
    assert len(mailbox.to(maria.email)) == 1
    assert browser.post("/account", data={"name": maria.name, "timezone": "Europe/London"}).status_code == 302
    db.session.expire_all()
    assert maria.email_notifications is False
    assign(people["therapist"], maria, due=2)
    assert len(mailbox.to(maria.email)) == 1


def test_therapist_with_email_on_gets_one_for_a_new_reflection(app, people, mailbox):
    therapist, maria = people["therapist"], people["client"]
    turn_email_on(signed_in(app, therapist), therapist)
    submit(maria, assign(therapist, maria, due=1), answers=["ANSWER-SENTINEL"])
    assert [m["To"] for m in mailbox.messages] == [therapist.email]
    assert "ANSWER-SENTINEL" not in mailbox.body(mailbox.messages[0])
    (link_url,) = mailbox.links(mailbox.messages[0])
    assert "/reflections/" in link_url


def test_email_links_use_the_configured_address_not_the_request_host(app, people, mailbox):
    """A client's request with a forged Host header must not put that host in her therapist's
    email when SERVER_BASE_URL is set."""
    therapist, maria = people["therapist"], people["client"]
    therapist.email_notifications = True
    db.session.commit()
    app.config["SERVER_BASE_URL"] = "https://care.example.org/"
    task = assign(therapist, maria, due=1)
    with app.test_request_context(f"/tasks/{task.id}", method="POST", headers={"Host": "evil.example"}):
        submit(maria, task)
    (message,) = mailbox.to(therapist.email)
    (link_url,) = mailbox.links(message)
    assert link_url.startswith("https://care.example.org/reflections/")
    assert "evil.example" not in mailbox.body(message)


def test_notification_list_pages(app, people):
    maria = people["client"]
    db.session.add_all([Notification(user_id=maria.id, kind="new_task", link="/home") for _ in range(25)])
    db.session.commit()
    browser = signed_in(app, maria)
    first = browser.get("/notifications").get_data(as_text=True)
    assert first.count("A new exercise from your therapist") == 20
    assert "Page 1 of 2" in first
    assert browser.get("/notifications?page=2").get_data(as_text=True).count(
        "A new exercise from your therapist") == 5
    for page in ("99999999999999999999", "-1", "x"):
        assert browser.get(f"/notifications?page={page}").status_code == 200


def test_a_rolled_back_change_sends_nothing(app, people, mailbox):
    maria = people["client"]
    maria.email_notifications = True
    db.session.commit()
    notify(maria, "new_task", "/home")
    db.session.rollback()
    # a later, unrelated commit does not send what was rolled back
    people["therapist"].name = "Ruth Renamed"
    db.session.commit()
    assert mailbox.messages == []
    assert all_notes() == Counter()
    # while a committed one is sent exactly once
    notify(maria, "new_task", "/home")
    db.session.commit()
    db.session.commit()
    assert len(mailbox.messages) == 1


def test_a_failed_savepoint_does_not_lose_the_email_of_a_committed_notification(app, people, mailbox):
    """A savepoint rolled back after notify() (say, a unique key that another request won)
    leaves the notification in the transaction: when it commits, the email goes too."""
    from sqlalchemy.exc import IntegrityError

    maria = people["client"]
    maria.email_notifications = True
    task = assign(people["therapist"], maria, due=1)
    db.session.add(ReminderSent(assignment_id=task.id, kind="due"))
    db.session.commit()
    mailbox.messages.clear()
    notify(maria, "new_feedback", f"/tasks/{task.id}")
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(ReminderSent(assignment_id=task.id, kind="due"))
    db.session.commit()
    assert (maria.id, "new_feedback") in all_notes()
    assert [m["To"] for m in mailbox.messages] == [maria.email]


def test_a_notification_inside_a_rolled_back_savepoint_sends_nothing(app, people, mailbox):
    maria = people["client"]
    maria.email_notifications = True
    db.session.commit()

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        with db.session.begin_nested():
            notify(maria, "new_task", "/home")
            raise Undo
    db.session.commit()
    assert all_notes() == Counter()
    assert mailbox.messages == []


def test_a_refused_action_sends_nothing(app, people, mailbox):
    """A submit refused for a missing rating commits the draft but tells no one."""
    from app.homework.reflections import ReflectionError, submit_reflection

    therapist, maria = people["therapist"], people["client"]
    therapist.email_notifications = True
    db.session.commit()
    task = assign(therapist, maria, due=1)
    with pytest.raises(ReflectionError):
        submit_reflection(maria, task, ["Words"], {"resentment": 3})
    assert mailbox.messages == []
    assert (therapist.id, "new_reflection") not in all_notes()


def test_a_closed_account_gets_no_email(app, people, mailbox):
    maria = people["client"]
    maria.email_notifications = True
    db.session.commit()
    task = assign(people["therapist"], maria, due=1)
    reflection = submit(maria, task)
    mailbox.messages.clear()
    maria.closed_at = utcnow()
    db.session.commit()
    review_services.give_feedback(people["therapist"], reflection, "After the end.", True)
    assert mailbox.messages == []


# --- flask send-reminders -----------------------------------------------------------------------

def run_reminders(app) -> str:
    result = app.test_cli_runner().invoke(args=["send-reminders"])
    assert result.exit_code == 0, result.output
    return result.output


def reminder_state() -> tuple:
    db.session.expire_all()
    sent = Counter((r.assignment_id, r.kind) for r in db.session.scalars(sa.select(ReminderSent)))
    notes = Counter((n.user_id, n.kind, n.link) for n in db.session.scalars(
        sa.select(Notification).where(Notification.kind.like("reminder_%"))))
    return sent, notes


def test_reminders_for_tasks_due_tomorrow_and_overdue_once_each(app, mailbox):
    therapist = make_therapist("Ruth")
    # clients on both sides of the date line: "tomorrow" is on each one's own calendar
    east = make_client(therapist, "East", timezone="Pacific/Kiritimati", email_notifications=True)
    west = make_client(therapist, "West", timezone="Pacific/Pago_Pago", email_notifications=True)
    quiet = make_client(therapist, "Quiet")  # email off: in-app only
    tasks = {}
    for person in (east, west, quiet):
        tasks[(person.id, "tomorrow")] = assign(therapist, person, due=1)
        tasks[(person.id, "overdue")] = assign(therapist, person, due=-2)
        tasks[(person.id, "today")] = assign(therapist, person, due=0)
        tasks[(person.id, "later")] = assign(therapist, person, due=2)
    # none for these: cancelled, already submitted, a closed account
    cancelled = assign(therapist, east, due=-1)
    cancelled.status = TASK_CANCELLED
    done = assign(therapist, east, due=1)
    submit(east, done)
    done.due_date = today_for(east) - timedelta(days=1)
    closed = make_client(therapist, "Closed", email_notifications=True)
    closed_tasks = [assign(therapist, closed, due=1), assign(therapist, closed, due=-3)]
    closed.closed_at = utcnow()
    db.session.commit()
    db.session.execute(sa.delete(Notification))
    db.session.commit()
    mailbox.messages.clear()

    output = run_reminders(app)
    assert "Reminders: 3 due tomorrow, 3 overdue." in output
    sent, notes = reminder_state()
    expected_sent = Counter()
    expected_notes = Counter()
    for person in (east, west, quiet):
        for which, kind in (("tomorrow", "due"), ("overdue", "overdue")):
            task = tasks[(person.id, which)]
            expected_sent[(task.id, kind)] = 1
            expected_notes[(person.id, f"reminder_{kind}", f"/tasks/{task.id}")] = 1
    assert sent == expected_sent
    assert notes == expected_notes
    assert sorted(m["To"] for m in mailbox.messages) == sorted([east.email] * 2 + [west.email] * 2)
    for message in mailbox.messages:
        assert message["Subject"] == EMAIL_SUBJECT
        body = mailbox.body(message)
        assert "Notice a moment" not in body and tasks[(east.id, "tomorrow")].title not in body
    assert not any(task.id in {a for a, _ in sent} for task in [cancelled, done, *closed_tasks])

    # running it again (cron twice, or two servers) sends nothing twice
    assert "Reminders: 0 due tomorrow, 0 overdue." in run_reminders(app)
    assert "Reminders: 0 due tomorrow, 0 overdue." in run_reminders(app)
    assert reminder_state() == (sent, notes)
    assert len(mailbox.messages) == 4
    # the reminder reads as one in the app
    page = text_of(signed_in(app, quiet).get("/notifications"))
    assert "Reminder: an exercise is due tomorrow" in page
    assert "An exercise is waiting for you" in page


def test_a_task_due_tomorrow_is_reminded_again_only_once_it_is_overdue(app):
    therapist = make_therapist("Ruth")
    maria = make_client(therapist, "Maria", timezone="Europe/London")
    task = assign(therapist, maria, due=1)
    now = utcnow()
    assert send_reminders(now) == {"reminder_due": 1, "reminder_overdue": 0}
    assert send_reminders(now + timedelta(hours=6)) == {"reminder_due": 0, "reminder_overdue": 0}
    assert send_reminders(now + timedelta(days=1)) == {"reminder_due": 0, "reminder_overdue": 0}  # due today
    assert send_reminders(now + timedelta(days=2)) == {"reminder_due": 0, "reminder_overdue": 1}
    assert send_reminders(now + timedelta(days=5)) == {"reminder_due": 0, "reminder_overdue": 0}
    sent, notes = reminder_state()
    assert sent == Counter({(task.id, "due"): 1, (task.id, "overdue"): 1})


def test_reminders_follow_the_given_time_not_the_server_date(app):
    """A cron run is 'now'; a task due eleven days out is 'tomorrow' ten days from now."""
    therapist = make_therapist("Ruth")
    maria = make_client(therapist, "Maria", timezone="Pacific/Kiritimati")
    task = assign(therapist, maria, due=11)
    assert send_reminders(utcnow() + timedelta(days=10)) == {"reminder_due": 1, "reminder_overdue": 0}
    assert reminder_state()[0] == Counter({(task.id, "due"): 1})


def test_reminder_after_the_task_is_sent_is_not_needed(app):
    therapist = make_therapist("Ruth")
    maria = make_client(therapist, "Maria")
    task = assign(therapist, maria, due=1)
    submit(maria, task)
    assert "Reminders: 0 due tomorrow, 0 overdue." in run_reminders(app)

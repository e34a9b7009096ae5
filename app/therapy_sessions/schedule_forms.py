"""Forms for scheduling sessions ahead and for the calendar subscription (shape only: what a
time, a length or a place may be is decided in schedule.py)."""
from datetime import date

from wtforms import DateField, IntegerField, RadioField, SelectChoice, StringField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from app.core.forms import AppForm, clean_text
from app.core.once import OnceForm
from app.therapy_sessions.schedule import DEFAULT_MINUTES, LOCATION_MAX, MAX_MINUTES, MIN_MINUTES


def _one_line(value):
    return " ".join(value.split()) if isinstance(value, str) else value


class ScheduleForm(AppForm):
    """When, how long and where: to schedule a session, or to move one."""

    day = DateField("Date", validators=[DataRequired(message="Choose the date of the session.")])
    time = TimeField("Start time", validators=[
        DataRequired(message="Choose the time it starts, in hours and minutes (such as 14:30).")])
    duration_minutes = IntegerField(
        "Length in minutes", default=DEFAULT_MINUTES,
        # Its bounds are schedule.py's to check (with the time and the place, all said at once).
        validators=[InputRequired(message="Say how long the session lasts, in minutes.")],
        render_kw={"min": MIN_MINUTES, "max": MAX_MINUTES, "step": 5, "inputmode": "numeric"})
    location = StringField(
        "Place or video link (optional)", filters=[clean_text, _one_line],
        validators=[Length(max=LOCATION_MAX,
                           message=f"Please keep the place or link under {LOCATION_MAX} characters.")],
        render_kw={"maxlength": LOCATION_MAX, "autocomplete": "off"})

    # Dates the time-zone conversion (and the database) can always represent.
    EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)

    def validate_day(self, field):
        if field.data is not None and not (self.EARLIEST <= field.data <= self.LATEST):
            raise ValidationError("Choose a date within the next two years.")


class NewSessionForm(OnceForm, ScheduleForm):
    """Scheduling creates a session: posted twice (a double click, a retry), it makes one."""


class CalendarNamesForm(AppForm):
    shows = RadioField("What your calendar shows", default="initials", choices=[
        SelectChoice("initials", "Initials only, e.g. “Session — M.L.” (recommended)"),
        SelectChoice("names", "Full names and the place, e.g. “Session — Maria Lopez”, “Room 2”"),
    ], validators=[InputRequired(message="Choose initials or names.")])


class CalendarAddressForm(OnceForm, AppForm):
    """Making (or renewing) the address: posted twice, it makes one address, shown once."""

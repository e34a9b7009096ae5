"""Opening and marking notifications read are POSTs that need only the CSRF token."""
from flask_wtf import FlaskForm


class NotificationForm(FlaskForm):
    pass

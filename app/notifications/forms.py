"""Opening and marking notifications read are POSTs that need only the CSRF token."""
from app.core.forms import AppForm


class NotificationForm(AppForm):
    pass

"""Opening and marking notifications read are POSTs that need only the CSRF token."""
from app.forms_common import AppForm


class NotificationForm(AppForm):
    pass

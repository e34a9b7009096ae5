"""Closing an account is a POST that needs only the CSRF token (and a confirmation in the page)."""
from app.forms_common import AppForm


class CloseAccountForm(AppForm):
    pass

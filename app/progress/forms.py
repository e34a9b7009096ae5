"""Closing an account is a POST that needs only the CSRF token (and a confirmation in the page)."""
from app.core.forms import AppForm


class CloseAccountForm(AppForm):
    pass

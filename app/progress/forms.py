"""Closing an account is a POST that needs only the CSRF token (and a confirmation in the page)."""
from flask_wtf import FlaskForm


class CloseAccountForm(FlaskForm):
    pass

"""The attributes of every form field, written without string.Formatter.

WTForms writes each attribute with `Markup('{k}="{v}"').format(...)`, which goes through
markupsafe's EscapeFormatter (a Python-level string.Formatter): the profile of the sign-in page
put about a third of its time there. `html_params` below writes exactly the same markup with
plain string operations; `install()` puts it where WTForms looks for it (the widgets module, the
package, and the Input and Button widgets that keep it as a static method).
tests/test_form_markup.py compares the two on every kind of value.
"""
from markupsafe import Markup, escape
from wtforms import widgets
from wtforms.widgets import core

_original = core.html_params


def _clean_key(key: str) -> str:
    key = key.rstrip("_")
    if key.startswith(("data_", "aria_")):
        key = key.replace("_", "-")
    return key


def html_params(**kwargs) -> Markup:
    """WTForms' html_params, the same output: attributes sorted by name, `True` as a bare
    attribute, `False` left out, names and values escaped."""
    params = []
    for key, value in sorted(kwargs.items()):
        if value is False:
            continue
        key = str(escape(_clean_key(key)))
        if value is True:
            params.append(key)
        else:
            value = str(escape(value)).replace('"', "&quot;")  # a Markup value keeps its quotes
            params.append(f'{key}="{value}"')
    return Markup(" ".join(params))


def install() -> None:
    """Make WTForms' widgets and labels use html_params above (idempotent)."""
    core.html_params = html_params
    widgets.html_params = html_params
    core.Input.html_params = staticmethod(html_params)
    core.Button.html_params = staticmethod(html_params)


def original() -> callable:
    """WTForms' own function, for the test that compares the two."""
    return _original

"""A guard on JSON request bodies (and uploaded files), before any view or form reads them.

Flask-WTF fills a form from a JSON body when there is no form body: `ImmutableMultiDict(json)`.
A list, a number or a string there, or a field holding a number or an object, made the forms
fail with a 500; a JSON string may also hold a lone surrogate ("\\ud800"), which no database
or encryption can encode. The app's own pages send forms, never JSON, so anything but a flat
object of text (or lists of text) is refused here with a 400."""
from flask import Flask, abort, request


def _is_text(value) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _acceptable(document) -> bool:
    if not isinstance(document, dict):
        return False
    for key, value in document.items():
        values = value if isinstance(value, list) else [value]
        if not _is_text(key) or not all(_is_text(v) for v in values):
            return False
    return True


def init_app(app: Flask) -> None:
    """Refuse JSON bodies the forms cannot read, files, and form parts without a name. It runs
    before every other check, the CSRF check included (which read every field's name)."""

    def refuse_unreadable_json():
        if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
            return
        if any(not isinstance(key, str) for key in request.form.keys()):
            # A multipart part whose name cannot be read (a line break in its header): Flask-WTF's
            # CSRF check, looking for its token among the names, failed on it with a 500.
            abort(400, "Send the form's fields as text.")
        if request.files:
            # No form here takes a file: an uploaded part in place of a text field reached the
            # validators as a FileStorage (len() of it: a 500).
            abort(400, "This form takes no files.")
        if request.is_json:
            # Invalid JSON (or invalid UTF-8) is a 400 from get_json itself; nesting too deep
            # for the parser raises RecursionError, which it does not turn into a 400.
            try:
                document = request.get_json()
            except RecursionError:
                document = None
            if not _acceptable(document):
                abort(400, "Send the form's fields as text.")

    app.before_request_funcs.setdefault(None, []).insert(0, refuse_unreadable_json)

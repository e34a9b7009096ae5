"""The fast html_params writes exactly what WTForms' own writes (app/web/form_markup.py)."""
import pytest
from markupsafe import Markup
from wtforms import Form, StringField, SubmitField, TextAreaField, widgets

from app.web import form_markup

CASES = [
    {},
    {"name": "text1", "id": "f", "class_": "text"},
    {"checked": True, "readonly": False, "name": "text1", "abc": "hello"},
    {"data_attr": "user.name", "aria_labeledby": "name", "data_a_b_c": 1},
    {"value": 'say "hi" & <b>bye</b>', "title": "l'été"},
    {"value": Markup('already "safe" <i>markup</i>')},
    {"maxlength": 20000, "minlength": 0, "step": 1.5, "min": None},
    {"for_": "x", "type": "submit", "aria_describedby": "a-help a-error", "aria_invalid": "true"},
    {'we"ird&key': "v", "<k>": True},
]


@pytest.mark.parametrize("attributes", CASES)
def test_same_markup_as_wtforms(attributes):
    expected = form_markup.original()(**attributes)
    got = form_markup.html_params(**attributes)
    assert got == expected
    assert isinstance(got, Markup)


def test_widgets_use_it(app):
    """After the app is made, WTForms' widgets and labels call the fast function."""
    assert widgets.core.html_params is form_markup.html_params
    assert widgets.html_params is form_markup.html_params
    assert widgets.core.Input.html_params is form_markup.html_params

    class F(Form):
        name = StringField("Name", render_kw={"aria_describedby": "h"})
        body = TextAreaField("Body")
        go = SubmitField("Go")

    form = F(data={"name": 'a "quoted" <name>', "body": "x"})
    assert str(form.name()) == ('<input aria-describedby="h" id="name" name="name" type="text" '
                                'value="a &#34;quoted&#34; &lt;name&gt;">')
    assert str(form.name.label) == '<label for="name">Name</label>'
    assert str(form.body()) == '<textarea id="body" name="body">\r\nx</textarea>'
    assert str(form.go()) == '<input id="go" name="go" type="submit" value="Go">'

"""The CI code gates (.ci/code_gates.py, run by .ci/gates.sh before the tests), run again here:
bandit finds nothing of medium or high severity in app/, and nothing gets around Jinja's
autoescaping (|safe, Markup(, render_template_string) outside the reviewed allowlist. The
gates are also shown to catch what they are for, so that a broken gate cannot pass quietly."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_gates():
    spec = importlib.util.spec_from_file_location("code_gates", ROOT / ".ci" / "code_gates.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


gates = _load_gates()


def test_nothing_gets_around_autoescaping_outside_the_reviewed_places():
    assert gates.unsafe_html_problems() == []


def test_bandit_finds_no_medium_or_high_issue_in_app():
    if shutil.which("bandit") is None and not Path(sys.executable).with_name("bandit").exists():
        pytest.fail("bandit is not installed: `make install-dev` installs the pinned version")
    failures, accepted, _ = gates.bandit_problems(gates.bandit_report())
    assert failures == []
    assert len(accepted) <= len(gates.MARKUP_ALLOWLIST)


# --- the gates catch what they are for ------------------------------------------------------

@pytest.mark.parametrize("source, what", [
    ("from markupsafe import Markup\ndef f(note):\n    return Markup(note.body)\n", "Markup(...)"),
    ("from markupsafe import Markup as M\ndef f(x):\n    return M(x)\n", "Markup(...)"),
    ("import markupsafe\ndef f(x):\n    return markupsafe.Markup(x)\n", "Markup(...)"),
    ("import flask as fl\ndef f(x):\n    return fl.Markup(x)\n", "Markup(...)"),
    ("from flask import render_template_string\n", "render_template_string imported"),
    ("import flask\ndef f(x):\n    return flask.render_template_string(x)\n", "render_template_string"),
    ("from jinja2 import Environment\nenv = Environment(autoescape=False)\n", "autoescape=False"),
    ("def f(app):\n    app.jinja_env.autoescape = False\n", "autoescape = False"),
    ("TEMPLATE = '<p>{{ note|safe }}</p>'\n", "|safe in a template string"),
])
def test_the_python_scan_finds_each_way_around_escaping(source, what):
    findings = gates.scan_python_source(source, "app/example.py")
    assert what in {f.what for f in findings}


def test_the_python_scan_names_the_enclosing_function():
    source = "from markupsafe import Markup\nclass A:\n    def show(self, x):\n        return Markup(x)\n"
    [finding] = gates.scan_python_source(source, "app/example.py")
    assert (finding.where, finding.line) == ("A.show", 4)


def test_escaping_itself_is_not_a_finding():
    source = "from markupsafe import escape\ndef f(x):\n    return escape(x)\n"
    assert gates.scan_python_source(source, "app/example.py") == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "templates").mkdir(exist_ok=True)
    return tmp_path


@pytest.mark.parametrize("template, what", [
    ("<p>{{ reflection.answers[0]|safe }}</p>", "|safe"),
    ("<p>{{ note.body | safe }}</p>", "|safe"),
    ("{% autoescape false %}{{ x }}{% endautoescape %}", "autoescape false"),
    ("{{ Markup(x) }}", "Markup("),
])
def test_the_template_scan_finds_each_way_around_escaping(tmp_path, template, what):
    root = _tree(tmp_path, {"templates/notes/show.html": template})
    findings = gates.scan_templates(root)
    assert what in {f.what for f in findings}
    assert any("templates/notes/show.html:1" in p for p in gates.unsafe_html_problems(root))


def test_a_template_flask_would_not_autoescape_is_a_finding(tmp_path):
    root = _tree(tmp_path, {"templates/emails/invite.txt": "{{ link }}"})
    assert [f.what for f in gates.scan_templates(root)] == ["template Flask does not autoescape"]


def test_a_reviewed_place_passes_and_a_stale_allowlist_entry_fails(tmp_path):
    reviewed = ("from markupsafe import Markup, escape\n"
                "def paragraphs(text):\n    return Markup('<p>' + str(escape(text)) + '</p>')\n")
    root = _tree(tmp_path, {"app/web/templating.py": reviewed})
    problems = gates.unsafe_html_problems(root)
    assert not any("app/web/templating.py:" in p for p in problems)
    assert any("stale allowlist entry" in p and "charts.py" in p for p in problems)


def test_bandit_fails_a_medium_finding(tmp_path):
    risky = "import pickle\n\ndef load(blob):\n    return pickle.loads(blob)\n"
    root = _tree(tmp_path, {"app/risky.py": risky})
    failures, _, _ = gates.bandit_problems(gates.bandit_report(root), root)
    assert any("app/risky.py" in f and "B301" in f for f in failures)


def test_bandit_markup_outside_the_reviewed_places_fails(tmp_path):
    source = "from markupsafe import Markup\n\ndef note(text):\n    return Markup(text)\n"
    root = _tree(tmp_path, {"app/notes.py": source,
                            "app/web/templating.py": source.replace("note", "paragraphs")})
    failures, accepted, _ = gates.bandit_problems(gates.bandit_report(root), root)
    assert any("app/notes.py" in f and "B704" in f for f in failures)
    assert any("app/web/templating.py" in a for a in accepted)


def test_ci_runs_the_gates_before_the_tests():
    run = (ROOT / ".ci" / "run").read_text()
    assert "bash .ci/gates.sh" in run
    assert run.index("bash .ci/gates.sh") < run.index('TEST_DATABASE_URL="$PG_URL" make test')
    assert "code_gates.py" in (ROOT / ".ci" / "gates.sh").read_text()
    pins = (ROOT / "constraints.txt").read_text().splitlines()
    assert any(line.startswith("bandit==") for line in pins)

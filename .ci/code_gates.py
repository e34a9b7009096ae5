"""Code gates run by .ci/gates.sh before the tests (and by tests/test_code_gates.py):

1. bandit on app/: no finding of medium or high severity. The one exception is bandit's B704
   (markupsafe.Markup) at a place reviewed in MARKUP_ALLOWLIST below.
2. No way around Jinja's autoescaping except at reviewed places: `|safe`, `{% autoescape false %}`
   and `Markup(` in templates; `Markup(...)` (under any import name), `render_template_string`,
   `autoescape=False` and `|safe` inside string literals in app/; and no template whose file name
   Flask would not autoescape.

Reviewing a new place means reading it, making sure every interpolated value is escaped first,
and adding it to the allowlist with the reason. An allowlist entry that no longer matches fails
too, so the list stays true.

Usage: python .ci/code_gates.py [--no-bandit]      (exit status 1 on any failure)
"""
from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BANDIT_TARGET = "app"

# (path, enclosing function) -> why building Markup there is safe. Every value interpolated into
# the markup must be escaped first (or be a constant or a number made by the code itself).
MARKUP_ALLOWLIST = {
    ("app/web/templating.py", "paragraphs"):
        "escapes the whole text first, then adds only <p> and <br>",
    ("app/progress/charts.py", "_frame"):
        "SVG from numbers and constants; every label, title and description passes escape()",
    ("app/web/form_markup.py", "html_params"):
        "WTForms' html_params rewritten: every attribute name and value passes escape() (a Markup "
        "value's quotes are also replaced), as in WTForms; tests/test_form_markup.py compares both",
    ("app/accounts/two_factor.py", "qr_svg"):
        "segno's SVG of the provisioning URI: the URI becomes QR modules (path data), never text",
}
# (path, stripped line) -> why; for templates. None reviewed so far: keep it that way.
TEMPLATE_ALLOWLIST: dict[tuple[str, str], str] = {}

MARKUP_MODULES = {"markupsafe", "flask", "jinja2", "jinja2.utils"}
AUTOESCAPED_SUFFIXES = (".html", ".htm", ".xml", ".xhtml", ".svg")
TEMPLATE_PATTERNS = [
    ("|safe", re.compile(r"\|\s*safe\b")),
    ("autoescape false", re.compile(r"\{%-?\s*autoescape\s+(false|False)\b")),
    ("Markup(", re.compile(r"\bMarkup\s*\(")),
    ("render_template_string", re.compile(r"render_template_string")),
]
SAFE_IN_STRING = re.compile(r"\|\s*safe\b")


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    where: str  # the enclosing function (Python) or the stripped line (templates)
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what} (in {self.where})"


# --- templates --------------------------------------------------------------------------------

def scan_templates(root: Path = ROOT) -> list[Finding]:
    findings = []
    for path in sorted((root / "templates").rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if not path.name.endswith(AUTOESCAPED_SUFFIXES):
            findings.append(Finding(rel, 1, path.name, "template Flask does not autoescape"))
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in TEMPLATE_PATTERNS:
                if pattern.search(line):
                    findings.append(Finding(rel, number, line.strip(), what))
    return findings


# --- Python -----------------------------------------------------------------------------------

class _Visitor(ast.NodeVisitor):
    def __init__(self, rel: str):
        self.rel = rel
        self.scope: list[str] = []
        self.markup_names: set[str] = set()  # local names bound to Markup
        self.module_names: set[str] = set()  # local names bound to a module that has Markup
        self.findings: list[Finding] = []

    def _add(self, node: ast.AST, what: str) -> None:
        where = ".".join(self.scope) or "<module>"
        self.findings.append(Finding(self.rel, node.lineno, where, what))

    def _scoped(self, node):
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scoped

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in MARKUP_MODULES:
                self.module_names.add(alias.asname or alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module in MARKUP_MODULES and alias.name == "Markup":
                self.markup_names.add(alias.asname or alias.name)
            if alias.name == "render_template_string":
                self._add(node, "render_template_string imported")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in self.markup_names:
            self._add(node, "Markup(...)")
        elif (isinstance(func, ast.Attribute) and func.attr == "Markup"
              and isinstance(func.value, ast.Name) and func.value.id in self.module_names):
            self._add(node, "Markup(...)")
        for keyword in node.keywords:
            if (keyword.arg == "autoescape" and isinstance(keyword.value, ast.Constant)
                    and keyword.value.value is False):
                self._add(node, "autoescape=False")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr == "render_template_string":
            self._add(node, "render_template_string")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if (isinstance(target, ast.Attribute) and target.attr == "autoescape"
                    and isinstance(node.value, ast.Constant) and node.value.value is False):
                self._add(node, "autoescape = False")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id == "render_template_string":
            self._add(node, "render_template_string")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and SAFE_IN_STRING.search(node.value):
            self._add(node, "|safe in a template string")


def scan_python_source(source: str, rel: str) -> list[Finding]:
    visitor = _Visitor(rel)
    visitor.visit(ast.parse(source, filename=rel))
    return visitor.findings


def scan_python(root: Path = ROOT) -> list[Finding]:
    findings = []
    for path in sorted((root / "app").rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        findings += scan_python_source(path.read_text(encoding="utf-8"), rel)
    return findings


def unsafe_html_problems(root: Path = ROOT) -> list[str]:
    """Unreviewed ways around autoescaping, and allowlist entries that match nothing."""
    problems = []
    used_markup, used_templates = set(), set()
    for finding in scan_python(root):
        key = (finding.path, finding.where)
        if finding.what == "Markup(...)" and key in MARKUP_ALLOWLIST:
            used_markup.add(key)
        else:
            problems.append(f"{finding}: not on the reviewed allowlist")
    for finding in scan_templates(root):
        key = (finding.path, finding.where)
        if key in TEMPLATE_ALLOWLIST:
            used_templates.add(key)
        else:
            problems.append(f"{finding}: not on the reviewed allowlist")
    for key in sorted(set(MARKUP_ALLOWLIST) - used_markup):
        problems.append(f"stale allowlist entry (no Markup there any more): {key}")
    for key in sorted(set(TEMPLATE_ALLOWLIST) - used_templates):
        problems.append(f"stale template allowlist entry: {key}")
    return problems


# --- bandit -----------------------------------------------------------------------------------

def _enclosing_function(path: Path, line: int) -> str:
    """The dotted name of the innermost function or class around `line`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    best: list[str] = []

    def walk(node, scope):
        nonlocal best
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                inner = scope + [child.name]
                if child.lineno <= line <= (child.end_lineno or child.lineno) and len(inner) > len(best):
                    best = inner
                walk(child, inner)
            else:
                walk(child, scope)

    walk(tree, [])
    return ".".join(best) or "<module>"


def bandit_report(root: Path = ROOT) -> dict:
    """bandit's JSON report on app/ (every severity; the gate decides)."""
    bandit = Path(sys.executable).with_name("bandit")
    command = [str(bandit) if bandit.exists() else "bandit", "-r", BANDIT_TARGET, "-f", "json", "-q"]
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True,
                              timeout=600, check=False)
    except FileNotFoundError:
        raise SystemExit("bandit is not installed: run `make install-dev` (it is a pinned dev "
                         "dependency)") from None
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"bandit did not produce a report (exit {done.returncode}):\n"
                         f"{done.stderr[-2000:]}") from None


def bandit_problems(report: dict, root: Path = ROOT) -> tuple[list[str], list[str], int]:
    """(failures, accepted reviewed findings, number of low findings)."""
    failures, accepted, low = [], [], 0
    for error in report.get("errors", []):
        failures.append(f"bandit could not scan {error.get('filename')}: {error.get('reason')}")
    for result in report.get("results", []):
        severity = result["issue_severity"].upper()
        where = f"{result['filename']}:{result['line_number']}"
        text = f"{where}: {result['test_id']} [{severity}] {result['issue_text']}"
        if severity == "LOW":
            low += 1
            continue
        if result["test_id"] == "B704":
            function = _enclosing_function(root / result["filename"], result["line_number"])
            if (Path(result["filename"]).as_posix(), function) in MARKUP_ALLOWLIST:
                accepted.append(f"{text} (reviewed: {function})")
                continue
        failures.append(text)
    return failures, accepted, low


def main(argv: list[str]) -> int:
    failed = False
    problems = unsafe_html_problems()
    if problems:
        failed = True
        print("FAIL  unreviewed ways around autoescaping (|safe, Markup(, render_template_string):")
        for problem in problems:
            print(f"      {problem}")
    else:
        print(f"OK    no |safe, Markup( or render_template_string outside the "
              f"{len(MARKUP_ALLOWLIST) + len(TEMPLATE_ALLOWLIST)} reviewed place(s)")
    if "--no-bandit" not in argv:
        failures, accepted, low = bandit_problems(bandit_report())
        if failures:
            failed = True
            print("FAIL  bandit found medium or high severity issues in app/:")
            for failure in failures:
                print(f"      {failure}")
        else:
            print(f"OK    bandit: no medium or high findings in app/ ({low} low, "
                  f"{len(accepted)} reviewed Markup place(s))")
    if failed:
        print("\ncode gates FAILED: fix the code, or review the place and add it to the "
              "allowlist in .ci/code_gates.py with the reason.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

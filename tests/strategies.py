"""Hypothesis strategies for bad input: nasty text, wrong types, odd ids, whole form bodies.

A form body is a list of (name, value) pairs; a value is text or raw bytes (bytes are sent as
they are, so that invalid UTF-8 and surrogate halves reach the server). `encode_form` turns a
body into an application/x-www-form-urlencoded request body."""
from __future__ import annotations

from urllib.parse import quote, quote_from_bytes

import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" codec error handler)
from hypothesis import strategies as st

# --- text -----------------------------------------------------------------------------------

CONTROL = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b", "\x1b[31m", "\x7f", "\r", "\r\n",
           "\t", "\x85", "\u2028", "\u2029"]
INVISIBLE = ["\u202e", "\u202d", "\u200f", "\u200e", "\u200b", "\u200d", "\ufeff", "\u2066", "\u2069",
             "\ufffd", "\ufffe", "\uffff", "\U0010ffff", "\u034f"]
EMOJI = ["😀", "👩‍👧", "👩🏽‍❤️‍💋‍👩🏻", "🏳️‍🌈", "🇬🇧", "❤️", "🫶🏾", "🧘‍♀️"]
RTL = ["مرحبا بكم", "أمي وأنا", "שלום עולם", "אמא שלי", "سلام ‎hello‏ עולם", "ܫܠܡܐ", "ދިވެހި"]
OTHER_SCRIPTS = ["Zoë Ångström", "naïve café", "日本語のテキスト", "한국어", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "Z̴̡̛a̷l̶g̸o̵",
                 "ǅ", "ß", "İstanbul", "ﬃ", "e\u0301", "\u0300", "٣", "²", "１２"]
MARKUP = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "{{ 7*7 }}", "{% raw %}",
          "'; DROP TABLE reflections; --", "%00", "%s%s%n", "${jndi:ldap://x}", "../../etc/passwd",
          "\\", "&amp;", "&#0;"]
NUMBERISH = ["", " ", "0", "-1", "1", "10", "11", "5.5", "1e309", "NaN", "inf", "-0", "0x10", "１",
             "٣", "²", "99999999999999999999999", str(2**31), str(2**63), str(-2**63 - 1), "true",
             "null", "[]", "{}", "None"]
DATEISH = ["", "2024-02-30", "2024-13-01", "0000-00-00", "0001-01-01", "9999-12-31", "99999-01-01",
           "-0001-01-01", "2024-1-1", "yesterday", "2024-02-29", "1900-01-01", "2100-12-31",
           "10:00", "25:61", "24:00", "23:59:60", "T", "2024-06-01T10:00:00+99:00"]

SPECIALS = CONTROL + INVISIBLE + EMOJI + RTL + OTHER_SCRIPTS + MARKUP + NUMBERISH + DATEISH

#: Text that is ordinary except for being awkward: any unicode (no surrogates: those cannot be
#: UTF-8 encoded; raw bytes below send them anyway), with the specials mixed in.
awkward_text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(SPECIALS),
    st.lists(st.one_of(st.sampled_from(SPECIALS), st.text(max_size=8)), min_size=1, max_size=8)
    .map("".join),
)


def _huge(unit: str, size: int) -> str:
    return (unit * (size // max(len(unit), 1) + 1))[:size]


HUGE_UNITS = ["a", "é", "😀", "مرحبا ", "\x00", "\r\n", "\u202e", " "]

#: Huge text: just over the limits (2,000 / 20,000 / 10,000 characters) and beyond them.
huge_text = st.builds(_huge, st.sampled_from(HUGE_UNITS), st.sampled_from([2_001, 20_001, 100_000]))

#: Far beyond: up to 2 million characters (past MAX_FORM_MEMORY_SIZE and MAX_CONTENT_LENGTH: a
#: 413 is a fine answer). Slow to send, so used by fewer examples.
giant_text = st.builds(_huge, st.sampled_from(HUGE_UNITS), st.sampled_from([700_000, 2_100_000]))

#: Raw bytes that are not valid UTF-8 (lone surrogates as CESU-8, overlongs, stray continuation
#: bytes, truncated sequences), sent unchanged.
bad_bytes = st.sampled_from([
    b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xc0\x80", b"\xc0\xaf", b"\xff\xfe", b"\x80", b"\xe2\x82",
    b"\xf4\x90\x80\x80", b"caf\xe9", b"ok\x00\xff", b"\xef\xbb\xbf",
])

field_text = st.one_of(awkward_text, awkward_text, awkward_text, awkward_text, awkward_text,
                       awkward_text, huge_text, bad_bytes)

# --- ids --------------------------------------------------------------------------------------

#: Ids that exist nowhere, or that a database cannot hold (int4 / int8 overflow).
UNKNOWN_IDS = [0, 1, 99_999_999, 2**31 - 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30]
#: Path segments that are not ids at all (most 404 in the router, which is fine).
ODD_SEGMENTS = ["-1", "1.5", "abc", "%00", "%F0%9F%98%80", "%D9%A3", "%C2%B2", "%EF%BC%91", "00001",
                "1%20", "%2e%2e", "1;DROP", "9" * 40]


def url_value(real_ids: list[int]):
    """A value for an <int:...> URL part: a real id, an unknown or huge one, or not an id."""
    options = [st.sampled_from(UNKNOWN_IDS).map(str), st.sampled_from(ODD_SEGMENTS)]
    if real_ids:
        options = [st.sampled_from(real_ids).map(str)] * 2 + options
    return st.one_of(*options)


token_value = st.one_of(
    st.sampled_from(["not-a-token", "", "a" * 5000, "%00", "%FF", "..", "ImFiYyI.abc.def"]),
    st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#%"), max_size=60),
)

# --- form bodies -------------------------------------------------------------------------------

EXTRA_NAMES = ["role", "therapist_id", "author_id", "id", "status", "action", "next", "done",
               "next_page", "restore", "version", "answers", "answer_99", "answer_-1", "answer_0[]",
               "", "\x00", "😀", "a" * 300]


def value_for(name: str):
    """Values for one field: mostly awkward, with number- and date-like ones where they matter."""
    lowered = name.lower()
    if any(k in lowered for k in ("date", "day", "time")):
        return st.one_of(st.sampled_from(DATEISH), field_text)
    if any(k in lowered for k in ("_id", "version", "resentment", "closeness", "times", "minutes",
                                  "done", "page")):
        return st.one_of(st.sampled_from(NUMBERISH), field_text)
    return field_text


def form_body(field_names, csrf_token: str | None = None):
    """A body for a form with these field names: each field missing, empty, one value or several
    values; sometimes extra fields; the CSRF token (valid) unless it is left out on purpose."""
    names = sorted(n for n in set(field_names) if n != "csrf_token")

    @st.composite
    def build(draw):
        pairs: list[tuple[str, str | bytes]] = []
        for name in names:
            shape = draw(st.sampled_from(["missing", "empty", "one", "one", "one", "many"]))
            if shape == "empty":
                pairs.append((name, ""))
            elif shape == "one":
                pairs.append((name, draw(value_for(name))))
            elif shape == "many":
                for value in draw(st.lists(value_for(name), min_size=2, max_size=3)):
                    pairs.append((name, value))
        for _ in range(draw(st.integers(0, 2))):
            extra = draw(st.one_of(st.sampled_from(EXTRA_NAMES), st.text(max_size=12)))
            pairs.append((extra, draw(awkward_text)))
        token_shape = draw(st.sampled_from(["valid"] * 8 + ["missing", "bad"]))
        if csrf_token is not None and token_shape == "valid":
            pairs.append(("csrf_token", csrf_token))
        elif token_shape == "bad":
            pairs.append(("csrf_token", draw(awkward_text)))
        return draw(st.permutations(pairs))

    return build()


def _encode(part: str | bytes) -> str:
    if isinstance(part, bytes):
        return quote_from_bytes(part, safe="")
    return quote(part, safe="", errors="surrogatepass")


def encode_form(pairs) -> bytes:
    """application/x-www-form-urlencoded, bytes passed through unchanged."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs).encode("ascii")


def as_text(value: str | bytes) -> str:
    """What the server reads for a form value: werkzeug keeps invalid UTF-8 as its %XX escapes."""
    return value.decode("utf-8", "werkzeug.url_quote") if isinstance(value, bytes) else value


# --- JSON bodies (the autosave endpoint reads JSON as well as a form) -------------------------

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                        st.floats(allow_nan=False, allow_infinity=False), awkward_text)
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(awkward_text, inner, max_size=3)), max_leaves=8)


def json_body(field_names):
    """A JSON document: an object with the real names and values of any type, or not an object."""
    names = sorted(n for n in set(field_names) if n != "csrf_token")
    obj = st.fixed_dictionaries({}, optional={n: st.one_of(json_value, field_text.filter(
        lambda v: isinstance(v, str))) for n in names})
    return st.one_of(obj, obj, json_value)


raw_json_bytes = st.sampled_from([
    b"", b"{", b"[", b"nul", b"{\"answer_0\": \"\xed\xa0\x80\"}", b"\xff\xfe{}", b"{\"a\":1}garbage",
    b"{\"answer_0\": \"\\ud800\"}", b"{\"answer_0\": \"\\u0000\"}", b"[[\"answer_0\", \"x\"]]",
    b"[1, 2, 3]", b"\"answer_0\"", b"42", b"true", b"null", b"{\"answer_0\": 1e999}",
    b"[" * 5000 + b"]" * 5000, b"{\"answer_0\": [\"a\", \"b\"]}", b"{\"answer_0\": {\"x\": 1}}",
])

# --- query strings -------------------------------------------------------------------------

QUERY_NAMES = ["page", "q", "sort", "attention", "archived", "next", "action", "from", "to",
               "filter", "client", "id", "format"]

query_string = st.lists(st.tuples(
    st.one_of(st.sampled_from(QUERY_NAMES), st.text(max_size=6)),
    st.one_of(st.sampled_from(NUMBERISH + DATEISH + ["-5", "0", "https://evil.example/",
                                                      "//evil.example", "/\\evil", "name", "due",
                                                      "attention", "javascript:alert(1)"]),
              awkward_text, bad_bytes)), max_size=4).map(encode_form)


# --- sending a request and judging the answer ---------------------------------------------------

import json as _json  # noqa: E402
import re as _re  # noqa: E402
from html.parser import HTMLParser  # noqa: E402
from io import BytesIO  # noqa: E402

from werkzeug.datastructures import MultiDict  # noqa: E402

BODY_KINDS = ["form", "form", "form", "multipart", "json", "raw_json"]


def send(client, method: str, url: str, kind: str, body, csrf_token: str | None):
    """One request; `body` is a list of pairs (form, multipart), a JSON value or raw bytes."""
    headers = {"Accept": "text/html"}
    if method == "GET":
        return client.get(url + ("?" + body.decode("ascii") if body else ""), headers=headers)
    if kind == "form":
        return client.post(url, data=encode_form(body), headers=headers,
                           content_type="application/x-www-form-urlencoded")
    if kind == "multipart":
        data = MultiDict()
        for i, (name, value) in enumerate(body):
            if isinstance(value, bytes) or i % 4 == 3:  # some values arrive as uploaded files
                raw = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
                data.add(as_text(name), (BytesIO(raw), "a.txt"))
            else:
                data.add(name, value)
        return client.post(url, data=data, headers=headers, content_type="multipart/form-data")
    headers = {"Accept": "application/json"}
    if csrf_token:
        headers["X-CSRFToken"] = csrf_token
    raw = body if kind == "raw_json" else _json.dumps(body).encode()
    return client.post(url, data=raw, headers=headers, content_type="application/json")


_HUMAN_HTML = _re.compile(
    r'<div class="error"|class="flash flash-(?:error|warning|info)"|<section class="card narrow">\s*<h1>'
    r'|<h1[^>]*>[^<]*(?:conflict|changed|saved|not)[^<]*</h1>', _re.I)


def check_response(response, what: str) -> None:
    """Never a 5xx, never a traceback; an HTML refusal says something a person can read; a JSON
    refusal carries a message."""
    status = response.status_code
    text = response.get_data(as_text=True)
    assert status < 500, f"{what}: answered {status}\n{text[:1500]}"
    assert "Traceback (most recent call last)" not in text and 'File "/' not in text, \
        f"{what}: a traceback in the page"
    if 400 <= status < 500:
        if response.mimetype == "application/json":
            payload = response.get_json()
            assert isinstance(payload, dict) and (payload.get("message") or payload.get("error")), \
                f"{what}: a JSON refusal without a message: {text[:500]}"
        elif response.mimetype == "text/html":
            assert _HUMAN_HTML.search(text), \
                f"{what}: a {status} page with no message for a person\n{text[:3000]}"


class FormScraper(HTMLParser):
    """The POST forms of a page: (action url, field names), also for a form's data-*-url."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[list[str], set[str]]] = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            urls = [v for k, v in attrs.items()
                    if v and (k == "action" or (k.startswith("data-") and k.endswith("url")))]
            if (attrs.get("method") or "get").lower() == "post":
                self._current = (urls, set())
                self.forms.append(self._current)
        elif tag in ("input", "textarea", "select", "button") and self._current and attrs.get("name"):
            self._current[1].add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None

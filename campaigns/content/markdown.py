"""An email the coach writes: Markdown with a fixed list of variables, checked at save and
turned into the pair of templates `campaigns.render` fills for each reader.

The body is Jinja in a sandbox first, so `{{ first_name }}` and `{% if looking %}` work and
nothing else does (no filters, calls, attributes, loops or includes). Its Markdown is then
rendered by markdown-it-py into HTML (sanitized by nh3: no raw HTML, no script, no event
handlers, https links only) and, from the same tokens, into the text part, so the two
parts say the same. A reader's own values (their name, their start date) are put in after
the Markdown is rendered, as Jinja expressions of the generated templates: a name with a
`*` in it is printed, never read as emphasis, and HTML-escaped only in the HTML part.

What must stay true for the reader (the footer, the unsubscribe link, the postal address,
the start-date question or correction, the worksheet's download and the confirm button,
a check-in's answers) is not in the body: Tend adds it below every body, by kind
(`templates/emails/_after_<kind>.*` and `_layout.*`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nh3
from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from markdown_it import MarkdownIt

# The kinds of email: the worksheet email, the request to confirm, an after-hire step, a
# check-in.
WORKSHEET, CONFIRM, STEP, CHECKIN = "worksheet", "confirm", "step", "checkin"
KINDS = (WORKSHEET, CONFIRM, STEP, CHECKIN)

SUBJECT_MAX = 150
PREHEADER_MAX = 200
BODY_MAX = 20_000


@dataclass(frozen=True)
class Variable:
    name: str
    doc: str
    kinds: tuple[str, ...] = KINDS
    text: bool = True  # printed (a string); False: a yes/no for {% if %}
    render_as: str = ""  # the render context's name, when it differs


VARIABLES = (
    Variable("first_name", "the reader's first name, or the name they asked to be called"),
    Variable("name", "the reader's full name, as they gave it"),
    Variable("coach_name", "your name, as the emails are signed (COACH_NAME)"),
    Variable("list_name", "the list's name (LIST_NAME)"),
    Variable(
        "start_date",
        "the day the reader's new job starts, in their locale: Monday, March 1, 2027",
        kinds=(STEP,),
        render_as="started_on",
    ),
    Variable("resume", "what a job seeker sends, in the locale's word: résumé or CV"),
    Variable(
        "looking",
        "yes when the reader told you they are still looking: {% if looking %}...{% endif %}",
        text=False,
    ),
)
BY_NAME = {v.name: v for v in VARIABLES}
# The values the same for every reader of one email; the others go in per reader.
_SHARED = {"coach_name", "list_name", "resume"}


@dataclass(frozen=True)
class Problem:
    field: str  # "subject", "preheader", "body" or "offset"
    message: str


class Invalid(ValueError):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


def allowed(kind: str) -> list[Variable]:
    return [v for v in VARIABLES if kind in v.kinds]


# ---- checking --------------------------------------------------------------------------

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENV = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.If,
    nodes.Not,
    nodes.And,
    nodes.Or,
)


def _template_problems(source: str, field: str, kind: str) -> list[Problem]:
    where = "" if field != "body" else "line {}: "
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as err:
        return [Problem(field, f"{where.format(err.lineno)}{_syntax(err)}")]
    names = {v.name for v in allowed(kind)}
    problems = []
    for node in tree.find_all(nodes.Node):
        line = where.format(getattr(node, "lineno", 1))
        if isinstance(node, nodes.Name):
            if node.name not in names:
                problems.append(Problem(field, f"{line}{_unknown(node.name, kind)}"))
            elif field != "body" and not BY_NAME[node.name].text:
                problems.append(Problem(field, f"{line}{{{{ {node.name} }}}} is for the body"))
        elif not isinstance(node, _ALLOWED_NODES):
            problems.append(
                Problem(
                    field,
                    f"{line}only {{{{ variable }}}} and {{% if variable %}}...{{% endif %}} "
                    f"may be used here, not {_describe(node)}",
                )
            )
            break
    return problems


def _syntax(err: TemplateSyntaxError) -> str:
    message = str(err.message or "broken template syntax")
    return f"broken template syntax ({message}); variables are written {{{{ first_name }}}}"


def _unknown(name: str, kind: str) -> str:
    if name in BY_NAME:
        return f"{{{{ {name} }}}} is only in after-hire notes (it is {BY_NAME[name].doc})"
    known = ", ".join(f"{{{{ {v.name} }}}}" for v in allowed(kind))
    return f"unknown variable {{{{ {name} }}}}; the variables are {known}"


def _describe(node: nodes.Node) -> str:
    return {
        nodes.Filter: "a filter (|)",
        nodes.Call: "a call",
        nodes.Getattr: "an attribute (.)",
        nodes.Getitem: "an index ([])",
        nodes.For: "a loop",
        nodes.Const: "a quoted value",
    }.get(type(node), f"{{% {type(node).__name__.lower()} %}}")


def check(
    *, kind: str, subject: str, preheader: str, body: str, offset: str | None = None
) -> list[Problem]:
    """Every problem of an email as the coach wrote it, each naming its field (and, in the
    body, its line); empty when it can be published."""
    problems = [
        Problem(field, f"The {field} holds a control character; type it again as text.")
        for field, value in (("subject", subject), ("preheader", preheader), ("body", body))
        if _CONTROL.search(value)
    ]
    if problems:
        return problems
    subject = subject.strip()
    if not subject:
        problems.append(Problem("subject", "The subject is empty; write one."))
    elif len(subject) > SUBJECT_MAX:
        problems.append(
            Problem("subject", f"The subject is {len(subject)} characters; keep it to 150.")
        )
    elif "\n" in subject or "\r" in subject:
        problems.append(Problem("subject", "The subject must be one line."))
    else:
        problems += _template_problems(subject, "subject", kind)
    if len(preheader) > PREHEADER_MAX or "\n" in preheader.strip():
        problems.append(
            Problem("preheader", "The preheader is one line of at most 200 characters.")
        )
    else:
        problems += _template_problems(preheader, "preheader", kind)
    if not body.strip():
        problems.append(Problem("body", "The body is empty; write the email."))
    elif len(body) > BODY_MAX:
        problems.append(Problem("body", f"The body is {len(body)} characters; keep it to 20,000."))
    else:
        found = _template_problems(body, "body", kind)
        problems += found or _markdown_problems(body, kind)
    if kind in (STEP, CHECKIN):
        problems += _offset_problems(offset)
    return problems


def _offset_problems(offset: str | None) -> list[Problem]:
    from campaigns.timing import parse_offset

    if not offset or not offset.strip():
        return [Problem("offset", "The offset is empty; write one, such as 1 month or 6 weeks.")]
    try:
        parse_offset(offset)
    except ValueError:
        return [
            Problem(
                "offset",
                f"The offset {offset!r} cannot be read: write a number and a unit, such as "
                "1 month, 6 weeks or 10 days.",
            )
        ]
    return []


def offset_problems(offset: str | None) -> list[Problem]:
    """What is wrong with a step's or check-in's offset (nothing: an empty list)."""
    return _offset_problems(offset)


_MD = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
# Checking sees every link as one, even those the renderer would refuse to make a link
# (javascript:, data:...), so the coach is told rather than shown the Markdown as text.
_MD.validateLink = lambda url: True


def _markdown_problems(body: str, kind: str) -> list[Problem]:
    """Raw HTML and links other than https, found in the body as the reader in every state
    would get it (each `{% if %}` branch taken)."""
    problems: list[Problem] = []
    for looking in (False, True):
        text = _evaluate(body, kind, {"looking": looking})
        for block in _MD.parse(text):
            line = (block.map[0] + 1) if block.map else 1
            if block.type == "html_block":
                problems.append(_html_problem(line))
            for child in block.children or ():
                if child.type == "html_inline":
                    problems.append(_html_problem(line))
                elif child.type in ("link_open", "image"):
                    url = str(child.attrGet("href") or child.attrGet("src") or "")
                    if not url.lower().startswith("https://"):
                        problems.append(
                            Problem(
                                "body",
                                f"line {line}: links must start with https:// ({url[:60]!r} does not)",
                            )
                        )
                    elif _PLACEHOLDER.search(url) or "%EE%80%80" in url:
                        problems.append(
                            Problem(
                                "body", f"line {line}: a variable cannot go in a link's address"
                            )
                        )
    unique = list(dict.fromkeys(problems))
    return unique


def _html_problem(line: int) -> Problem:
    return Problem("body", f"line {line}: HTML is not allowed (such as <script>); write Markdown")


# ---- rendering ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile("\ue000([a-z_]+)\ue001")


def _placeholder(name: str) -> str:
    return f"\ue000{name}\ue001"


def _evaluate(body: str, kind: str, flags: Mapping[str, object]) -> str:
    """The body with its `{% if %}`s decided by `flags` and every printed variable left as
    a placeholder, to be put in after the Markdown is rendered."""
    context = {v.name: _placeholder(v.name) for v in VARIABLES if v.text}
    context |= {v.name: bool(flags.get(v.name)) for v in VARIABLES if not v.text}
    return _ENV.from_string(body).render(context)


def render_line(source: str, values: Mapping[str, object]) -> str:
    """A subject or preheader for one reader (plain text: no Markdown, no escaping)."""
    return " ".join(_ENV.from_string(source).render(dict(values)).split())


_CLEAN_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "h2", "h3", "h4"}
_CLEAN_TAGS |= {"blockquote", "code", "pre", "hr", "img"}


def body_html(markdown_text: str) -> str:
    """The body's HTML: Markdown rendered, raw HTML refused (escaped), sanitized by nh3
    with https links only. Headings start at h2 (the email's h1 is its subject)."""
    html = _MD_SAFE.render(markdown_text)
    html = re.sub(r"<(/?)h1>", r"<\1h2>", html)
    return nh3.clean(
        html,
        tags=_CLEAN_TAGS,
        attributes={"a": {"href"}, "img": {"src", "alt"}},
        url_schemes={"https"},
        link_rel="noopener",
    )


_MD_SAFE = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def body_text(markdown_text: str) -> str:
    """The text part, from the same tokens as the HTML: paragraphs apart, a link as
    'words (https://...)', list items with their marks, emphasis as the words alone."""
    out: list[str] = []
    prefix: list[str] = []  # what starts each line: quote marks, list marks (or their room)
    counters: list[int] = []  # per open list: 0 for bullets, else the next number
    for token in _MD_SAFE.parse(markdown_text):
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            counters.append(0 if kind == "bullet_list_open" else int(token.attrGet("start") or 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
            out.append("")
        elif kind == "list_item_open":
            prefix.append("- " if counters[-1] == 0 else f"{counters[-1]}. ")
            counters[-1] += 1 if counters[-1] else 0
        elif kind in ("list_item_close", "blockquote_close"):
            prefix.pop()
        elif kind == "blockquote_open":
            prefix.append("> ")
        elif kind == "inline":
            lead = "".join(prefix)
            lines = _inline_text(token.children or []).split("\n")
            room = " " * len(lead) if not lead.endswith("> ") else lead
            out.append("\n".join([lead + lines[0], *(room + line for line in lines[1:])]))
            if prefix and prefix[-1] != "> ":
                prefix[-1] = " " * len(prefix[-1])  # the item's next paragraph: indented
        elif kind in ("fence", "code_block"):
            out.append(token.content.rstrip("\n"))
        elif kind == "hr":
            out.append("---")
        elif kind in ("paragraph_close", "heading_close") and not counters:
            out.append("")
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _inline_text(children) -> str:
    parts: list[str] = []
    href: list[str] = []
    for child in children:
        if child.type == "text" or child.type == "code_inline":
            parts.append(child.content)
        elif child.type == "softbreak" or child.type == "hardbreak":
            parts.append("\n")
        elif child.type == "link_open":
            href.append(str(child.attrGet("href") or ""))
        elif child.type == "link_close":
            url = href.pop() if href else ""
            if url.lower().startswith("https://"):
                parts.append(f" ({url})")
        elif child.type == "image":
            parts.append(child.content or "")
    return "".join(parts)


@dataclass(frozen=True)
class Compiled:
    """The generated pair of templates for one body as one shape of reader gets it."""

    name: str  # the template's name, without .html/.txt
    html: str
    text: str


_GENERATED: dict[str, str] = {}


def generated_source(name: str) -> str | None:
    """The source of a generated template (the loader of `campaigns.render` asks here)."""
    return _GENERATED.get(name)


@lru_cache(maxsize=256)
def compile_body(body: str, kind: str, looking: bool) -> Compiled:
    """The body's pair of templates, registered under a name made from what they hold."""
    evaluated = _evaluate(body, kind, {"looking": looking})
    html = _as_jinja(body_html(evaluated))
    text = _as_jinja(body_text(evaluated))
    ask_html = '{% include "_ask.html" %}' if kind == WORKSHEET else ""
    ask_text = '{% include "_ask.txt" %}' if kind == WORKSHEET else ""
    html_source = (
        '{% extends "_layout.html" %}\n'
        f"{{% block ask %}}{ask_html}{{% endblock %}}\n"
        "{% block body %}\n<h1>{{ subject }}</h1>\n"
        f"{html}\n"
        f'{{% include "_after_{kind}.html" %}}\n'
        "{% endblock %}\n"
    )
    text_source = (
        '{% extends "_layout.txt" %}\n'
        f"{{% block ask %}}{ask_text}{{% endblock %}}\n"
        "{% block body %}\n"
        f"{text}\n"
        f'{{% include "_after_{kind}.txt" %}}\n\n'
        "{% endblock %}\n"
    )
    digest = hashlib.sha256(json.dumps([html_source, text_source]).encode()).hexdigest()[:20]
    name = f"coach/{kind}-{digest}"
    _GENERATED[f"{name}.html"] = html_source
    _GENERATED[f"{name}.txt"] = text_source
    return Compiled(name, html_source, text_source)


def _as_jinja(rendered: str) -> str:
    """Rendered Markdown as template source: literal text kept literal, each placeholder a
    Jinja expression of the render context."""
    pieces = _PLACEHOLDER.split(rendered)
    out = []
    for i, piece in enumerate(pieces):
        if i % 2:
            variable = BY_NAME[piece]
            out.append(f"{{{{ {variable.render_as or variable.name} }}}}")
        else:
            out.append(re.sub(r"\{(?=[{%#])", "{{ '{' }}", piece))
    return "".join(out)


# ---- the files: front matter and Markdown ------------------------------------------------

FRONT_KEYS = ("subject", "preheader", "offset")


def parse_file(text: str, where: str = "") -> dict[str, str]:
    """A Markdown file with front matter (between `---` lines, `key: "value"`) as
    {subject, preheader, offset?, body}."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in [x.strip() for x in lines[1:]]:
        raise ValueError(f"{where}: front matter (subject, preheader) between --- lines is missing")
    end = 1 + [x.strip() for x in lines[1:]].index("---")
    data: dict[str, str] = {}
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not colon or key not in FRONT_KEYS:
            raise ValueError(f"{where} line {number}: expected one of {', '.join(FRONT_KEYS)}")
        data[key] = json.loads(value) if value.startswith('"') else value
    data["body"] = "\n".join(lines[end + 1 :]).strip("\n") + "\n"
    return data


def write_file(email: Mapping[str, str]) -> str:
    """The file `parse_file` reads back to the same email."""
    front = [
        f"{key}: {json.dumps(email[key], ensure_ascii=False)}"
        for key in FRONT_KEYS
        if email.get(key) is not None and (key != "offset" or email.get(key))
    ]
    return "---\n" + "\n".join(front) + "\n---\n" + email["body"].strip("\n") + "\n"


def read_file(path: Path) -> dict[str, str]:
    return parse_file(path.read_text(encoding="utf-8"), str(path))

"""Build the worksheet PDF: fillable, tagged for screen readers, signed by the coach.

WeasyPrint lays out `worksheet.html` and writes it as PDF/UA-1: every heading, paragraph,
list and table cell is a tag, in reading order, and every input is an AcroForm field
(text boxes and checkboxes) inside a Form tag, its title the name a screen reader says.
reportlab can make the fields but not the tags; fpdf2 can make neither.

A build is named by a digest of everything that goes into it (the HTML with the words the
coach published, the coach's name, the site and the paper size, and WeasyPrint's version),
so a change of words or settings gets a new file. Publishing new words queues a rebuild
(`rebuild.py`); until it is done, readers get the build before it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

import settings
from campaigns.worksheet import content, state
from models import utcnow

log = logging.getLogger("tend.worksheet")
HERE = Path(__file__).resolve().parent
PAPERS = ("letter", "a4")
# The day the post that offers it was published: the PDF's dates, so a rebuild is the same.
CREATED = "2021-03-08T09:00:00Z"


@dataclass(frozen=True)
class Options:
    """What one build depends on: the settings, and the words."""

    paper: str  # "letter" or "a4"
    coach_name: str
    site: str  # PUBLIC_BASE_URL, shown in the footer and linked
    words: content.Worksheet = content.SHIPPED

    @classmethod
    def from_config(cls, cfg: Mapping) -> Options:
        """The settings' build of the words readers get now (the coach's published ones)."""
        return cls(
            cfg["WORKSHEET_PAPER"],
            settings.coach().coach_name,
            cfg["PUBLIC_BASE_URL"],
            content.current().words,
        )


@dataclass(frozen=True)
class Built:
    path: Path
    pages: int


@lru_cache(maxsize=1)
def _template():
    env = Environment(
        loader=FileSystemLoader(str(HERE)),
        autoescape=select_autoescape(enabled_extensions=("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("worksheet.html")


def _site_label(site: str) -> str:
    parts = urlsplit(site)
    return (parts.netloc + parts.path.rstrip("/")) or site


def _kind(item: content.Item) -> str:
    return {
        content.Question: "question",
        content.Checkboxes: "checks",
        content.Blanks: "blanks",
        content.Network: "network",
    }[type(item)]


@lru_cache(maxsize=8)
def html(options: Options) -> str:
    """The worksheet as the HTML WeasyPrint lays out."""
    if options.paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}, got {options.paper!r}")
    words = options.words
    heights = sorted({q.lines for q in words.questions()})
    return _template().render(
        title=words.title,
        subject=words.subject,
        intro=words.intro,
        garden=words.garden,
        closing=words.closing,
        sections=[
            (n, s, [(_kind(i), i) for i in s.items]) for n, s in enumerate(words.sections, start=1)
        ],
        blank_title=content.BLANK_TITLE,
        heights=heights,
        paper=options.paper,
        coach_name=options.coach_name,
        site=options.site,
        site_label=_site_label(options.site),
        created=CREATED,
    )


def _weasyprint_version() -> str:
    from importlib.metadata import version

    return version("weasyprint")


@lru_cache(maxsize=8)
def digest(options: Options) -> str:
    """A short name for everything a build of `options` is made of."""
    made_of = "\0".join((html(options), options.paper, _weasyprint_version()))
    return hashlib.sha256(made_of.encode("utf-8")).hexdigest()[:16]


def built_path(options: Options, folder: Path) -> Path:
    """Where the build of `options` lives in `folder` (it may not be there yet)."""
    return Path(folder) / f"worksheet-{options.paper}-{digest(options)}.pdf"


class CannotBuild(RuntimeError):
    """WeasyPrint or the system libraries it needs are missing; the message says which."""


def _weasyprint_html():
    # Imported here: the service starts, and serves a WORKSHEET_PATH of its own, without
    # WeasyPrint's system libraries (Pango).
    # WeasyPrint narrates each layout step at INFO, from its import on: not news in our log.
    logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as err:
        raise CannotBuild(
            f"the worksheet PDF needs WeasyPrint and Pango ({err}): install Pango "
            "(Debian and Ubuntu: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            "fonts-liberation; macOS: brew install pango), or set WORKSHEET_PATH to a PDF "
            "of your own"
        ) from None
    return HTML


def write(options: Options, path: Path) -> Built:
    """Lay out the worksheet and write it to `path` in one step (a reader never sees half)."""
    HTML = _weasyprint_html()  # noqa: N806 - the class, under its own name

    document = HTML(string=html(options), base_url=str(HERE)).render()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".worksheet-", suffix=".pdf")
    try:
        with os.fdopen(handle, "wb") as out:
            document.write_pdf(
                out,
                pdf_variant="pdf/ua-1",
                pdf_forms=True,
                pdf_identifier=digest(options).encode("ascii"),
            )
        os.chmod(temporary, 0o644)  # mkstemp's 0600 would keep it from other users
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Built(path, len(document.pages))


def build(options: Options, folder: Path) -> Built:
    """Write the build of `options` into `folder` and remove older builds there."""
    built = write(options, built_path(options, folder))
    for old in Path(folder).glob("worksheet-*.pdf"):
        if old != built.path:
            old.unlink(missing_ok=True)
    return built


def ensure(options: Options, folder: Path) -> Path:
    """The build of `options` in `folder`, built first if it is not there yet."""
    path = built_path(options, folder)
    if not path.exists():
        write(options, path)
    return path


def build_folder(cfg: Mapping, instance_path: str) -> Path:
    """Where builds live: `instance/worksheet` (a test may point WORKSHEET_BUILD_DIR elsewhere)."""
    return Path(cfg.get("WORKSHEET_BUILD_DIR") or Path(instance_path) / "worksheet")


def _newest_build(folder: Path, paper: str) -> Path | None:
    """The newest build on `paper` in `folder`, whatever its words or settings."""
    builds = [(p.stat().st_mtime_ns, p) for p in Path(folder).glob(f"worksheet-{paper}-*.pdf")]
    return max(builds)[1] if builds else None


def served(cfg: Mapping, instance_path: str) -> Path:
    """The PDF readers get: WORKSHEET_PATH when set, else the build of the words readers get
    now for these settings. While its rebuild is on its way (the coach just published),
    the build before it; if none is queued, it is built on this request; one that cannot be
    built leaves the build before it served."""
    if cfg["WORKSHEET_PATH"]:
        return Path(cfg["WORKSHEET_PATH"])
    options = Options.from_config(cfg)
    folder = build_folder(cfg, instance_path)
    path = built_path(options, folder)
    if path.exists():
        return path
    older = _newest_build(folder, options.paper)
    held = state.read()
    if older is not None and held is not None and held.waiting_for(digest(options), utcnow()):
        return older
    try:
        return ensure(options, folder)
    except Exception:
        if older is None:
            raise
        log.exception("worksheet: building %s failed; serving %s", path.name, older.name)
        return older

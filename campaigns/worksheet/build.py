"""Build the worksheet PDF: fillable, tagged for screen readers, signed by the coach.

WeasyPrint lays out `worksheet.html` and writes it as PDF/UA-1: every heading, paragraph,
list and table cell is a tag, in reading order, and every input is an AcroForm field
(text boxes and checkboxes) inside a Form tag, its title the name a screen reader says.
reportlab can make the fields but not the tags; fpdf2 can make neither.

A build is named by a digest of everything that goes into it (the HTML with the coach's
name, the site and the paper size, and WeasyPrint's version), so a change of settings
gets a new file, and the file served is always the one the settings describe.
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
from campaigns.worksheet import content

HERE = Path(__file__).resolve().parent
PAPERS = ("letter", "a4")
# The day the post that offers it was published: the PDF's dates, so a rebuild is the same.
CREATED = "2021-03-08T09:00:00Z"


@dataclass(frozen=True)
class Options:
    """What one build depends on, read from the settings."""

    paper: str  # "letter" or "a4"
    coach_name: str
    site: str  # PUBLIC_BASE_URL, shown in the footer and linked

    @classmethod
    def from_config(cls, cfg: Mapping) -> Options:
        """The running app's: the coach's name as it is now (`settings.coach()`, the
        dashboard's or the environment's), so a new name gets its own build."""
        return cls(cfg["WORKSHEET_PAPER"], settings.coach().coach_name, cfg["PUBLIC_BASE_URL"])


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


def _units(section: content.Section) -> list[tuple[str, content.Section, object]]:
    """What a section holds, in reading order: (kind, section, question or None)."""
    units = [("question", section, q) for q in section.questions]
    if section.blanks:
        units.append(("blanks", section, None))
    if section.checks:
        units.append(("checks", section, None))
    units += [("question", section, q) for q in section.after]
    if section.network:
        units.append(("network", section, None))
    return units


@lru_cache(maxsize=8)
def html(options: Options) -> str:
    """The worksheet as the HTML WeasyPrint lays out."""
    if options.paper not in PAPERS:
        raise ValueError(f"paper must be one of {PAPERS}, got {options.paper!r}")
    heights = sorted({q.lines for s in content.SECTIONS for q in (*s.questions, *s.after)})
    return _template().render(
        title=content.TITLE,
        subject=content.SUBJECT,
        intro=content.INTRO,
        garden=content.GARDEN,
        closing=content.CLOSING,
        sections=[(n, s, _units(s)) for n, s in enumerate(content.SECTIONS, start=1)],
        text_columns=content.NETWORK_TEXT_COLUMNS,
        check_columns=content.NETWORK_CHECK_COLUMNS,
        rows=content.NETWORK_ROWS,
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


def served(cfg: Mapping, instance_path: str) -> Path:
    """The PDF readers get: WORKSHEET_PATH when set, else the build for these settings,
    made on the first request if `worksheet build` has not made it yet."""
    if cfg["WORKSHEET_PATH"]:
        return Path(cfg["WORKSHEET_PATH"])
    return ensure(Options.from_config(cfg), build_folder(cfg, instance_path))

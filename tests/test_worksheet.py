"""The worksheet PDF: fillable, tagged in reading order, on Letter or A4, signed by the coach.

Its fields are read with pypdf, its tags with poppler's `pdfinfo -struct-text` (the tree
a screen reader walks), and every page is rendered with `pdftoppm`; the pages land in
artifacts/screenshots/ to look at.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from browser_support import SCREENSHOTS, need
from PIL import Image
from pypdf import PdfReader, PdfWriter
from support import SECRET, flask_cli

import settings
from campaigns.links import make_token
from campaigns.worksheet import build, content
from models import Subscriber, db

OPTIONS = build.Options("letter", "Zoë Ångström", "https://tend.example.com")
WORDS = content.SHIPPED
# Every field in reading order: the names the PDF's form gives them.
FIELDS_IN_ORDER = [name for name, _, _ in WORDS.fields()]
CHECKBOXES = {name for name, kind, _ in WORDS.fields() if kind == "checkbox"}
QUESTIONS = {q.key: q for q in WORDS.questions()}
MM = 72 / 25.4


def poppler(tool: str) -> str:
    found = shutil.which(tool)
    need(found is not None, f"{tool} is missing: apt-get install poppler-utils")
    return found


@pytest.fixture(scope="module")
def letter(tmp_path_factory) -> build.Built:
    return build.write(OPTIONS, tmp_path_factory.mktemp("ws") / "letter.pdf")


def _fields(path: Path) -> dict:
    return PdfReader(path).get_fields()


def test_the_form_has_a_text_field_or_checkbox_for_every_answer(letter):
    fields = _fields(letter.path)
    assert list(fields) == FIELDS_IN_ORDER
    assert FIELDS_IN_ORDER[:4] == ["your-name", "date", "values", "proud"]
    assert len(FIELDS_IN_ORDER) == 66 and len(CHECKBOXES) == 25
    for name, field in fields.items():
        assert field["/FT"] == ("/Btn" if name in CHECKBOXES else "/Tx"), name
        assert field.get("/TU"), f"{name} has no name a screen reader can say"
    for key, question in QUESTIONS.items():
        assert fields[key]["/TU"] == question.text
        assert fields[key]["/Ff"] & (1 << 12), f"{key} takes one line only"  # Multiline
    assert fields["pay-need"]["/TU"] == "I need: amount, currency, and per year, month or hour"
    assert fields["person-3-thanked"]["/TU"] == "Person 3: thanked"
    assert set(fields["person-3-thanked"]["/_States_"]) == {"/on", "/Off"}


def test_every_answer_has_room_to_write(letter):
    reader = PdfReader(letter.path)
    heights = {}
    for page in reader.pages:
        for annotation in page.get("/Annots", []):
            widget = annotation.get_object()
            if widget["/Subtype"] != "/Widget":
                continue
            x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
            heights[widget["/T"]] = (abs(y2 - y1) / MM, abs(x2 - x1) / MM)
    for question in QUESTIONS.values():
        height, width = heights[question.key]
        # A good 5.5 mm a line, by hand or typed: four or five lines, across the page.
        assert height >= question.lines * 5.5, (question.key, height)
        assert width >= 170, (question.key, width)
    for key in ("pay-need", "pay-fair", "pay-walk-away"):
        assert heights[key][0] >= 6.5 and heights[key][1] >= 130, key
    assert heights["person-1-helped"][0] >= 8.5
    assert heights["remote"][0] >= 4 and heights["remote"][1] >= 4


def _struct_text(path: Path) -> str:
    done = subprocess.run(
        [poppler("pdfinfo"), "-struct-text", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_it_is_tagged_so_a_screen_reader_reads_it_in_order(letter):
    reader = PdfReader(letter.path)
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"]) and str(root["/Lang"]) == "en"
    assert "/StructTreeRoot" in root
    assert reader.metadata.title == WORDS.title
    tree = _struct_text(letter.path)
    # The headings, in order, as the tags give them.
    headings = re.findall(r'^\s+H[12] \(block\)\n\s+Span \(inline\)\n\s+"([^"]+)"', tree, re.M)
    assert headings == [WORDS.title] + [
        f"{n}. {s.heading}" for n, s in enumerate(WORDS.sections, start=1)
    ]
    # Each form field sits in a Form tag, in the place it has on the page.
    by_object = {}
    for page in reader.pages:
        for annotation in page["/Annots"]:
            widget = annotation.get_object()
            if widget.get("/Subtype") == "/Widget":
                by_object[annotation.idnum] = widget["/T"]
    tagged = [
        by_object[int(n)]
        for n in re.findall(r"^\s+Form\n\s+Object (\d+) 0$", tree, re.M)
        if int(n) in by_object
    ]
    assert tagged == FIELDS_IN_ORDER
    # And each question is read just before its box.
    for question in QUESTIONS.values():
        said = tree.index(question.text.split("(")[0].strip()[:50])
        box = tree.index(f"Object {_object_of(by_object, question.key)} 0")
        assert said < box, question.key
    # The network table is a table with its column headers.
    assert "Table" in tree and '"How they helped"' in tree and "TH" in tree


def _object_of(by_object: dict, name: str) -> int:
    return next(number for number, field in by_object.items() if field == name)


def _text(path: Path) -> str:
    done = subprocess.run(
        [poppler("pdftotext"), "-layout", str(path), "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_every_page_carries_the_coach_and_the_site(letter):
    pages = _text(letter.path).split("\f")[: letter.pages]
    assert letter.path.read_bytes().startswith(b"%PDF-")
    assert letter.pages == 4  # room to write, and still short
    for number, page in enumerate(pages, start=1):
        assert "Zoë Ångström · tend.example.com" in page, number
        assert f"Page {number} of {letter.pages}" in page, number
    assert "A worksheet from Zoë Ångström · tend.example.com" in pages[0]
    link = [
        a.get_object()["/A"]["/URI"]
        for a in PdfReader(letter.path).pages[0]["/Annots"]
        if a.get_object()["/Subtype"] == "/Link"
    ]
    assert link == ["https://tend.example.com"]


def test_amounts_are_the_readers_own_in_any_currency(letter):
    text = _text(letter.path)
    assert "$" not in text
    assert "amount and its currency" in " ".join(text.split())


@pytest.mark.parametrize(("paper", "size"), [("letter", (612, 792)), ("a4", (595.28, 841.89))])
def test_the_paper_is_letter_or_a4_and_pdftoppm_renders_every_page(tmp_path, paper, size):
    made = build.write(
        build.Options(paper, "Zoë Ångström", "https://tend.example.com"), tmp_path / "w.pdf"
    )
    reader = PdfReader(made.path)
    assert len(reader.pages) == made.pages >= 3
    for page in reader.pages:
        box = page.mediabox
        assert (round(float(box.width), 2), round(float(box.height), 2)) == size
    subprocess.run(
        [poppler("pdftoppm"), "-r", "72", "-png", str(made.path), str(tmp_path / "page")],
        check=True,
        timeout=120,
    )
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == made.pages
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for number, png in enumerate(rendered, start=1):
        with Image.open(png) as image:
            width, height = (math.ceil(side) for side in size)
            assert abs(image.size[0] - width) <= 1 and abs(image.size[1] - height) <= 1
            darkest, lightest = image.convert("L").getextrema()
            assert lightest == 255 and darkest < 80  # a white page with ink on it
        shutil.copy(png, SCREENSHOTS / f"worksheet-{paper}-page-{number}.png")


def test_a_reader_can_fill_it_in_and_the_answers_stay(letter, tmp_path):
    writer = PdfWriter(clone_from=letter.path)
    answers = {"your-name": "Zoë Ångström", "values": "Honesty, learning, kindness."}
    writer.update_page_form_field_values(writer.pages[0], answers, auto_regenerate=False)
    last = writer.pages[-1]
    writer.update_page_form_field_values(
        last, {"person-1-name": "Olivia", "person-1-thanked": "/on"}, auto_regenerate=False
    )
    filled = tmp_path / "filled.pdf"
    writer.write(filled)
    fields = _fields(filled)
    assert fields["your-name"]["/V"] == "Zoë Ångström"
    assert fields["values"]["/V"] == "Honesty, learning, kindness."
    assert fields["person-1-name"]["/V"] == "Olivia"
    assert fields["person-1-thanked"]["/V"] == "/on"
    assert fields["person-2-thanked"]["/V"] == "/Off"
    # The filled page still renders, and differs from the empty one where the name went.
    for pdf, stem in ((letter.path, "empty"), (filled, "filled")):
        subprocess.run(
            [
                poppler("pdftoppm"),
                "-r",
                "60",
                "-png",
                "-f",
                "1",
                "-l",
                "1",
                str(pdf),
                str(tmp_path / stem),
            ],
            check=True,
            timeout=60,
        )
    (empty,) = tmp_path.glob("empty-*.png")
    (typed,) = tmp_path.glob("filled-*.png")
    with Image.open(empty) as a, Image.open(typed) as b:
        assert a.size == b.size and a.tobytes() != b.tobytes()


def test_a_build_is_the_same_bytes_each_time_and_named_by_what_it_is_made_of(tmp_path):
    first = build.build(OPTIONS, tmp_path)
    again = build.build(OPTIONS, tmp_path)
    assert first.path == again.path and list(tmp_path.glob("*.pdf")) == [first.path]
    other = build.build(build.Options("a4", OPTIONS.coach_name, OPTIONS.site), tmp_path)
    assert other.path != first.path
    assert list(tmp_path.glob("*.pdf")) == [other.path]  # older builds are removed
    assert (
        build.write(OPTIONS, tmp_path / "x.pdf").path.read_bytes()
        == build.write(OPTIONS, tmp_path / "y.pdf").path.read_bytes()
    )
    assert oct(other.path.stat().st_mode & 0o777) == "0o644"


# ---- settings, the command and serving ------------------------------------------------


def test_settings_name_the_coach_and_the_paper():
    cfg = settings.load({"SECRET_KEY": "k" * 40}, debug=True)
    assert (cfg["COACH_NAME"], cfg["WORKSHEET_PAPER"]) == ("Your career coach", "letter")
    cfg = settings.load({"COACH_NAME": "  Zoë  ", "WORKSHEET_PAPER": "A4"}, debug=True)
    assert (cfg["COACH_NAME"], cfg["WORKSHEET_PAPER"]) == ("Zoë", "a4")
    with pytest.raises(settings.ConfigError, match="WORKSHEET_PAPER must be letter or a4"):
        settings.load({"WORKSHEET_PAPER": "a5"}, debug=True)
    with pytest.raises(settings.ConfigError, match="WORKSHEET_PATH names no file"):
        settings.load({"WORKSHEET_PATH": "/nowhere/worksheet.pdf"}, debug=True)


def test_the_build_command_writes_the_pdf_and_says_what_it_made(app_env, tmp_path):
    out = tmp_path / "look.pdf"
    env = app_env(COACH_NAME="Zoë Ångström", WORKSHEET_PAPER="a4")
    done = flask_cli(env, "worksheet", "build", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"worksheet: wrote {out} (a4, {len(PdfReader(out).pages)} pages, "
        f"{out.stat().st_size // 1024} KB) for Zoë Ångström, https://tend.example\n"
    )
    assert "weasyprint" not in done.stderr  # its progress lines stay out of the log
    own = tmp_path / "mine.pdf"
    own.write_bytes(out.read_bytes())
    done = flask_cli(app_env(WORKSHEET_PATH=str(own)), "worksheet", "build")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"worksheet: WORKSHEET_PATH is set, so readers get {own}\n"


def _worksheet_link(app) -> str:
    with app.app_context():
        sub = Subscriber(email="ann@example.com", email_key="ann@example.com", name="Ann")
        db.session.add(sub)
        db.session.commit()
        return f"/worksheet/{make_token(SECRET, 'worksheet', sub.public_id)}"


def test_readers_get_the_build_for_the_settings_built_on_first_request(make_app, tmp_path):
    app = make_app(COACH_NAME="Zoë Ångström", WORKSHEET_PAPER="a4")
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path)
    link = _worksheet_link(app)
    assert list(tmp_path.glob("*.pdf")) == []  # not built yet
    response = app.test_client().get(link)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "private, no-store"
    (built,) = tmp_path.glob("worksheet-a4-*.pdf")
    assert response.data == built.read_bytes()
    stamp = built.stat().st_mtime_ns
    assert app.test_client().get(link).data == response.data
    assert built.stat().st_mtime_ns == stamp  # served from the build, not built again
    reader = PdfReader(built)
    assert round(float(reader.pages[0].mediabox.height), 2) == 841.89
    assert reader.metadata.author == "Zoë Ångström"


def test_worksheet_path_still_overrides_the_build(make_app, tmp_path):
    own = tmp_path / "mine.pdf"
    own.write_bytes(b"%PDF-1.4 the coach's own worksheet\n%%EOF\n")
    app = make_app(WORKSHEET_PATH=str(own))
    app.config["WORKSHEET_BUILD_DIR"] = str(tmp_path / "builds")
    response = app.test_client().get(_worksheet_link(app))
    assert response.status_code == 200 and response.data == own.read_bytes()
    assert not (tmp_path / "builds").exists()

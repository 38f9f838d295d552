"""Build the printable "What do you need in your next company?" worksheet PDF.

The blog post "Why You Should Network When You Already Have a Job" ends by offering
this worksheet. Run ``.venv/bin/python campaigns/worksheet/build.py`` to write
``worksheet.pdf`` beside this file. Only fpdf2's built-in core fonts are used, so
nothing is fetched, and the creation date is fixed so rebuilding gives identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

OUTPUT = Path(__file__).resolve().parent / "worksheet.pdf"
CREATION_DATE = datetime(2021, 3, 8, 9, 0, 0, tzinfo=UTC)
MAX_PAGES = 2

TITLE = "What Do You Need in Your Next Company?"
INTRO = (
    "You want to be happy in your next job, so get clear on what you need before you say yes. "
    "Take twenty quiet minutes, answer honestly (nobody grades this but you), and bring it "
    "to every interview and offer talk."
)
FOOTER = (
    "Your network is like a garden: tend it while you don't need it, "
    "and it will be there when you do."
)

MARGIN = 14.0
LINE_GAP = 7.0  # distance between ruled writing lines, mm
FOOTER_SPACE = 10.0  # reserved at the bottom of every page for the footer

INK = (38, 42, 46)
MUTED = (105, 110, 115)
ACCENT = (46, 102, 84)
RULE = (190, 196, 200)


@dataclass(frozen=True)
class Question:
    """One prompt, followed by ruled lines or by labelled blanks on a single line."""

    text: str
    lines: int = 2
    blanks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A numbered heading; a section with no questions gets the keep-in-touch table."""

    heading: str
    questions: tuple[Question, ...]
    note: str = ""


SECTIONS: tuple[Section, ...] = (
    Section(
        "Your values",
        (
            Question(
                "Which three values won't you compromise on at work? "
                "(Honesty, impact, learning, stability, kindness...)"
            ),
            Question(
                "Think of a time you were proud of where you worked. "
                "What was that company doing right?"
            ),
        ),
    ),
    Section(
        "The manager and team you work best with",
        (
            Question(
                "Picture the best manager you've had. "
                "What did they do that helped you do your best work?"
            ),
            Question(
                "How much direction and feedback do you want, and how often? "
                "What kind of team brings out your best?"
            ),
        ),
    ),
    Section(
        "Growth",
        (
            Question(
                "What do you want to be doing in two or three years that you aren't doing today?"
            ),
            Question(
                "Which skills do you want to build next? What support would help "
                "(training, a mentor, stretch projects)?"
            ),
            Question(
                "What will you ask in interviews to find out if a company really invests "
                "in its people?"
            ),
        ),
    ),
    Section(
        "Flexibility: schedule, location, remote",
        (
            Question(
                "Remote, hybrid, or on-site? How far and how often will you commute, "
                "and what hours let you do your best work?"
            ),
            Question(
                "What commitments outside work (family, health, school, caregiving) "
                "does your next job need to make room for?",
                lines=1,
            ),
        ),
    ),
    Section(
        "Pay and benefits",
        (
            Question(
                "Know your numbers before anyone asks you for them:",
                blanks=("I need: $", "A fair offer: $", "I walk away below: $"),
            ),
            Question(
                "Which benefits matter most to you? (Health coverage, retirement match, "
                "time off, parental leave...)"
            ),
        ),
    ),
    Section(
        "Deal-breakers",
        (
            Question(
                "What made you leave, or want to leave, past jobs? "
                "Which of those will you refuse to accept again?"
            ),
            Question('Finish the sentence: "I will say no to an offer if..."'),
        ),
    ),
    Section(
        "Who in your network to keep in touch with",
        (),
        note=(
            "The people who helped you in this search are the network that will help you in "
            "the next one. Thank them now, give before you need anything, and reach out at "
            "six months to tell them how the new role is going."
        ),
    ),
)

NETWORK_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Name", 0.25),
    ("How they helped", 0.27),
    ("Thanked?", 0.11),
    ("6-month check-in", 0.17),
    ("How I can help them", 0.20),
)
NETWORK_ROWS = 5
NETWORK_ROW_HEIGHT = 8.0
NETWORK_HEADER_HEIGHT = 7.0


class Worksheet(FPDF):
    """A US-Letter page with the worksheet's footer and helpers for its parts."""

    def footer(self) -> None:
        self.set_y(-MARGIN + 2)
        self.set_draw_color(*RULE)
        self.set_line_width(0.2)
        self.line(MARGIN, self.get_y() - 3, self.w - MARGIN, self.get_y() - 3)
        self.set_font("Helvetica", "I", 8.5)
        self.set_text_color(*MUTED)
        self.cell(self.epw - 20, 5, FOOTER)
        self.set_font("Helvetica", "", 8.5)
        self.cell(20, 5, f"Page {self.page_no()} of {{nb}}", align="R")

    @property
    def bottom(self) -> float:
        return self.h - MARGIN - FOOTER_SPACE

    def text_height(self, text: str, size: float, style: str = "", line_h: float = 5.0) -> float:
        self.set_font("Helvetica", style, size)
        lines = self.multi_cell(
            self.epw, line_h, text, dry_run=True, output=MethodReturnValue.LINES
        )
        return len(lines) * line_h

    def question_height(self, question: Question) -> float:
        body = self.text_height(question.text, 10.5)
        return body + 2 + (LINE_GAP + 1 if question.blanks else question.lines * LINE_GAP) + 2.5

    def ensure_room(self, needed: float) -> None:
        if self.get_y() + needed > self.bottom:
            self.add_page()

    def rule(self, y: float) -> None:
        self.set_draw_color(*RULE)
        self.set_line_width(0.25)
        self.line(MARGIN, y, self.w - MARGIN, y)

    def heading(self, number: int, text: str) -> None:
        self.ln(2)
        self.set_font("Helvetica", "B", 13)
        self.set_text_color(*ACCENT)
        self.cell(9, 7, f"{number}.")
        self.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.5)
        self.line(MARGIN, self.get_y() + 0.5, self.w - MARGIN, self.get_y() + 0.5)
        self.ln(3)

    def question(self, question: Question) -> None:
        self.set_font("Helvetica", "", 10.5)
        self.set_text_color(*INK)
        self.multi_cell(0, 5, question.text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)
        if question.blanks:
            self.blanks(question.blanks)
        else:
            for _ in range(question.lines):
                self.set_y(self.get_y() + LINE_GAP)
                self.rule(self.get_y())
        self.ln(2.5)

    def blanks(self, labels: tuple[str, ...]) -> None:
        self.set_font("Helvetica", "B", 10.5)
        self.set_text_color(*INK)
        slot = self.epw / len(labels)
        baseline = self.get_y() + LINE_GAP
        for i, label in enumerate(labels):
            x = MARGIN + i * slot
            label_w = self.get_string_width(label) + 1
            self.set_xy(x, baseline - 5)
            self.cell(label_w, 5, label)
            self.set_draw_color(*RULE)
            self.set_line_width(0.25)
            gap = 0 if i == len(labels) - 1 else 6
            self.line(x + label_w, baseline, x + slot - gap, baseline)
        self.set_xy(MARGIN, baseline + 1)

    def network_table(self) -> None:
        widths = [share * self.epw for _, share in NETWORK_COLUMNS]
        self.set_font("Helvetica", "B", 9)
        self.set_text_color(255, 255, 255)
        self.set_fill_color(*ACCENT)
        self.set_draw_color(*ACCENT)
        self.set_line_width(0.3)
        for (label, _), width in zip(NETWORK_COLUMNS, widths, strict=True):
            self.cell(width, NETWORK_HEADER_HEIGHT, label, border=1, align="C", fill=True)
        self.ln(NETWORK_HEADER_HEIGHT)
        self.set_draw_color(*RULE)
        self.set_line_width(0.25)
        for _ in range(NETWORK_ROWS):
            y = self.get_y()
            x = MARGIN
            for (label, _), width in zip(NETWORK_COLUMNS, widths, strict=True):
                self.rect(x, y, width, NETWORK_ROW_HEIGHT)
                if label == "Thanked?":
                    box = 3.6
                    self.rect(x + (width - box) / 2, y + (NETWORK_ROW_HEIGHT - box) / 2, box, box)
                x += width
            self.set_y(y + NETWORK_ROW_HEIGHT)

    def network_height(self) -> float:
        return NETWORK_HEADER_HEIGHT + NETWORK_ROWS * NETWORK_ROW_HEIGHT


def build(path: Path | str = OUTPUT) -> Path:
    """Write the worksheet PDF to ``path`` and return the path; fails if it exceeds 2 pages."""
    pdf = Worksheet(orientation="portrait", unit="mm", format="Letter")
    pdf.set_creation_date(CREATION_DATE)
    pdf.set_title(TITLE)
    pdf.set_subject("A worksheet to clarify what you need in the next company you work for")
    pdf.set_keywords("career, job search, networking, worksheet")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)
    pdf.add_page()

    pdf.set_font("Helvetica", "B", 21)
    pdf.set_text_color(*ACCENT)
    pdf.cell(0, 10, TITLE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    pdf.set_font("Helvetica", "", 10.5)
    pdf.set_text_color(*MUTED)
    pdf.multi_cell(0, 5, INTRO, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10.5)
    pdf.set_text_color(*INK)
    pdf.blanks(("Name:", "Date:"))

    for number, section in enumerate(SECTIONS, start=1):
        first = pdf.question_height(section.questions[0]) if section.questions else 0.0
        note = pdf.text_height(section.note, 10.5) + 3 if section.note else 0.0
        table = pdf.network_height() if not section.questions else 0.0
        pdf.ensure_room(14 + note + first + table)
        pdf.heading(number, section.heading)
        if section.note:
            pdf.set_font("Helvetica", "", 10.5)
            pdf.set_text_color(*INK)
            pdf.multi_cell(0, 5, section.note, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(3)
        for question in section.questions:
            pdf.ensure_room(pdf.question_height(question))
            pdf.question(question)
        if not section.questions:
            pdf.network_table()

    if pdf.pages_count > MAX_PAGES:
        raise RuntimeError(f"worksheet runs to {pdf.pages_count} pages; the limit is {MAX_PAGES}")
    out = Path(path)
    pdf.output(str(out))
    return out


if __name__ == "__main__":
    print(build())

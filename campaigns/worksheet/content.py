"""The words of the worksheet "What Do You Need in Your Next Company?", as data.

The blog post "Why You Should Network When You Already Have a Job" ends by offering it.
Each question gets a field to type in (or room to write on paper); `worksheet.html`
lays them out and `build.py` makes the PDF. A field's `key` is its name in the PDF's
form: stable, so a filled-in copy keeps its answers across rebuilds.
"""

from __future__ import annotations

from dataclasses import dataclass

TITLE = "What Do You Need in Your Next Company?"
SUBJECT = "A worksheet to clarify what you need in the next company you work for"
INTRO = (
    "You want to be happy in your next job, so get clear on what you need before you say yes. "
    "Take twenty quiet minutes, answer honestly (nobody grades this but you), and bring it "
    "to every interview and offer talk. Type into the boxes on screen, or print it and write."
)
GARDEN = (
    "Your network is like a garden: tend it while you don't need it, "
    "and it will be there when you do."
)
CLOSING = (
    "Six months into the new job, reach out to everyone on this list and tell them how the "
    "new role is going. I'd love to hear from you then too."
)


@dataclass(frozen=True)
class Question:
    """A prompt and the box its answer goes in, `lines` lines tall."""

    key: str
    text: str
    lines: int = 5


@dataclass(frozen=True)
class Blank:
    """A labelled one-line answer, such as an amount of money."""

    key: str
    label: str


@dataclass(frozen=True)
class Check:
    """A box to tick, with what ticking it says."""

    key: str
    label: str


@dataclass(frozen=True)
class Section:
    """A numbered heading and what goes under it, in reading order."""

    heading: str
    note: str = ""
    questions: tuple[Question, ...] = ()
    blanks: tuple[Blank, ...] = ()
    blanks_hint: str = ""
    checks: tuple[Check, ...] = ()
    checks_prompt: str = ""
    after: tuple[Question, ...] = ()  # questions that follow the blanks or the checks
    network: bool = False  # the keep-in-touch table


SECTIONS: tuple[Section, ...] = (
    Section(
        "Your values",
        questions=(
            Question(
                "values",
                "Which three values won't you compromise on at work? "
                "(Honesty, impact, learning, stability, kindness...)",
            ),
            Question(
                "proud",
                "Think of a time you were proud of where you worked. "
                "What was that company doing right?",
            ),
        ),
    ),
    Section(
        "The manager and team you work best with",
        questions=(
            Question(
                "best-manager",
                "Picture the best manager you've had. "
                "What did they do that helped you do your best work?",
            ),
            Question(
                "feedback",
                "How much direction and feedback do you want, and how often? "
                "What kind of team brings out your best?",
            ),
        ),
    ),
    Section(
        "Growth",
        questions=(
            Question(
                "two-years",
                "What do you want to be doing in two or three years that you aren't doing today?",
            ),
            Question(
                "skills",
                "Which skills do you want to build next? What support would help "
                "(training, a mentor, stretch projects)?",
            ),
            Question(
                "invests",
                "What will you ask in interviews to find out if a company really invests "
                "in its people?",
                lines=4,
            ),
        ),
    ),
    Section(
        "Flexibility: schedule, location, remote",
        checks_prompt="Where could you do your best work? Tick every one that would work.",
        checks=(
            Check("remote", "Remote"),
            Check("hybrid", "Hybrid"),
            Check("on-site", "On-site"),
        ),
        after=(
            Question(
                "commute",
                "How far and how often will you commute, and what hours let you do your best work?",
                lines=4,
            ),
            Question(
                "commitments",
                "What commitments outside work (family, health, school, caregiving) "
                "does your next job need to make room for?",
                lines=4,
            ),
        ),
    ),
    Section(
        "Pay and benefits",
        note="Know your numbers before anyone asks you for them.",
        blanks_hint=(
            "Write each one as an amount and its currency, and say whether it is per year, "
            "per month or per hour."
        ),
        blanks=(
            Blank("pay-need", "I need"),
            Blank("pay-fair", "A fair offer"),
            Blank("pay-walk-away", "I walk away below"),
        ),
        after=(
            Question(
                "benefits",
                "Which benefits matter most to you? (Health coverage, a pension or "
                "retirement plan, time off, parental leave...)",
                lines=4,
            ),
        ),
    ),
    Section(
        "Deal-breakers",
        questions=(
            Question(
                "left-before",
                "What made you leave, or want to leave, past jobs? "
                "Which of those will you refuse to accept again?",
            ),
            Question("say-no", 'Finish the sentence: "I will say no to an offer if..."', lines=4),
        ),
    ),
    Section(
        "Before you say yes",
        checks_prompt="Tick each one that is true of the offer in front of you.",
        checks=(
            Check("met-manager", "I have met the person I would report to."),
            Check("met-team", "I have talked with someone who would be on my team."),
            Check("first-months", "I know how my work will be judged in the first six months."),
            Check("in-writing", "I have the offer in writing: pay, title and start date."),
            Check("meets-numbers", "It meets the numbers I wrote under Pay and benefits."),
            Check("no-deal-breaker", "It has none of my deal-breakers."),
        ),
    ),
    Section(
        "Who in your network to keep in touch with",
        note=(
            "The people who helped you in this search are the network that will help you in "
            "the next one. Thank them now, give before you need anything, and reach out at "
            "six months to tell them how the new role is going."
        ),
        network=True,
    ),
)

# The keep-in-touch table: (key, heading) of its text columns, then its two tick columns.
NETWORK_TEXT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("helped", "How they helped"),
    ("help-them", "How I can help them"),
)
NETWORK_CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("thanked", "Thanked"),
    ("six-months", "Six-month check-in"),
)
NETWORK_ROWS = 8

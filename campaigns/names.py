"""The name a reader is greeted by: the given name as typed, less the honorifics before it
(the rule, and the lists it reads, in one place; `tests/test_greeting.py` holds the table)."""

from __future__ import annotations

import re
import unicodedata

# Titles typed before a name, compared without case or a closing dot: the greeting skips them.
HONORIFICS = frozenset({"dr", "mr", "mrs", "ms", "mx", "prof"})
# Lower-case words that open a family name ("van der Berg", "de la Cruz"): such a name is
# a surname given on its own, so it is used whole rather than cut to "van" or "de".
PARTICLES = frozenset(
    {"al", "bin", "binti", "da", "das", "de", "del", "della", "den", "der", "di", "do"}
    | {"dos", "du", "el", "ibn", "la", "le", "ter", "ten", "van", "von", "zu"}
)
_GLUED_HONORIFIC = re.compile(r"(?i)(?:dr|mrs?|ms|mx|prof)\.(?=\w)")


def _is_honorific(word: str) -> bool:
    return word.lower().removesuffix(".") in HONORIFICS


# Given names of two words, as people write them: the greeting keeps both ("María José",
# "Mary Ann"). Compared without case or accents. A name not listed is cut to its first
# word (a hyphenated one, "Jean-Luc", is one word): there is no telling "Mary Ann Smith"
# from "Ann Lee Smith" without a list, and a reader whose name is cut can say what to call
# them on the start-date page.
COMPOUND_GIVEN_NAMES = frozenset(
    {"ana maria", "ana sofia", "anna lena", "anna maria", "anne marie", "billy bob"}
    | {"billy jo", "billy ray", "bobby jo", "gian carlo", "gian luca", "hans peter"}
    | {"jean claude", "jean francois", "jean marc", "jean paul", "jean pierre", "jo ann"}
    | {"jose antonio", "jose luis", "jose manuel", "jose maria", "juan carlos", "juan jose"}
    | {"juan manuel", "juan pablo", "karl heinz", "luis miguel", "maria elena"}
    | {"maria fernanda", "maria isabel", "maria jesus", "maria jose", "maria luisa"}
    | {"maria teresa", "marie claire", "marie france", "marie louise", "mary ann"}
    | {"mary anne", "mary beth", "mary ellen", "mary jane", "mary jo", "mary kate"}
    | {"mary lou", "miguel angel", "pier paolo", "sarah jane", "anna maija"}
)


def _bare(word: str) -> str:
    folded = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in folded if not unicodedata.combining(c))


def first_name(name: str) -> str:
    """What the greeting calls someone: the given name as typed, less the honorifics before it.

    "As typed" keeps case, accents and hyphens: "Ann Lee" is greeted "Ann", "Dr. Émile
    Zola-Ångström" "Émile", "Jean-Luc Picard" "Jean-Luc". A given name of two words in
    `COMPOUND_GIVEN_NAMES` is kept whole ("María José O'Connor-Núñez" is "María José"). A
    name that opens with a particle in lower case is used whole ("van der Berg"), and a
    name that is nothing but an honorific is used as it is.
    """
    words = name.split()
    rest = list(words)
    while rest and _is_honorific(rest[0]):
        rest.pop(0)
    if rest and _GLUED_HONORIFIC.match(rest[0]):  # "Dr.Émile"
        rest[0] = _GLUED_HONORIFIC.sub("", rest[0], count=1)
    if not rest:
        return " ".join(words)
    if rest[0] in PARTICLES and len(rest) > 1:
        return " ".join(rest)
    if len(rest) > 1 and f"{_bare(rest[0])} {_bare(rest[1])}" in COMPOUND_GIVEN_NAMES:
        return f"{rest[0]} {rest[1]}"
    return rest[0]

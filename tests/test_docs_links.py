"""Every relative link and anchor in README.md and docs/*.md leads somewhere.

Anchors are made the way GitHub makes them from a heading, so a link that works here works
on the repository's page.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def prose(text: str) -> str:
    """The text a reader sees as Markdown: code blocks and code spans hold no links."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text, lower case, punctuation dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its words
    text = re.sub(r"<[^>]+>", "", text).lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        base = slug(heading)
        name, n = base, 0
        while name in found:  # GitHub numbers a repeated heading: x, x-1, x-2
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Each link in the page whose file or anchor does not exist, as `page: target`."""
    broken = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto: ...
            continue
        file_part, _, anchor = target.partition("#")
        goal = (path.parent / file_part).resolve() if file_part else path
        if not goal.exists():
            broken.append(f"{path.relative_to(root)}: {target} (no such file)")
        elif anchor and goal.suffix == ".md" and anchor not in anchors(goal):
            broken.append(f"{path.relative_to(root)}: {target} (no such heading)")
    return broken


def test_every_relative_link_and_anchor_in_the_docs_resolves():
    assert len(pages()) > 10
    assert [link for page in pages() for link in broken_links(page)] == []


def test_the_link_check_finds_a_missing_page_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# The reader's journey\n\n## Sending, and `MAIL_RATE`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#the-readers-journey) [ok](other.md#sending-and-mail_rate) "
        "[bad](other.md#the-journey) [bad](gone.md) [web](https://example.com/x#y)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "page.md: other.md#the-journey (no such heading)",
        "page.md: gone.md (no such file)",
    ]


def test_github_anchors_are_made_like_github_makes_them(tmp_path):
    assert slug("The reader's journey") == "the-readers-journey"
    assert slug("SPF, DKIM and DMARC") == "spf-dkim-and-dmarc"
    assert slug("Health, metrics, logs") == "health-metrics-logs"
    assert (
        slug("Last run (2026-12-02 09:30 UTC, 2 cores)") == "last-run-2026-12-02-0930-utc-2-cores"
    )
    page = tmp_path / "page.md"
    page.write_text("# A\n\n## Notes\n\n## Notes\n")
    assert anchors(page) == {"a", "notes", "notes-1"}

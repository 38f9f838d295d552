"""Charts drawn on the server as SVG: no script, no CDN, readable by a screen reader."""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) at or above `value`."""
    scale = 1
    while True:
        for factor in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8):
            if factor * scale >= value:
                return factor * scale
        scale *= 10


def signups_svg(counts: dict[date, int], *, title: str = "Signups per day") -> Markup:
    """A bar per day, a labelled y axis and the first, middle and last dates along the bottom."""
    days = sorted(counts)
    total = sum(counts.values())
    top = _nice_ceiling(max(counts.values(), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)
    bar = max(slot - 1.5, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="chart-title chart-desc">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{total} signups from {days[0].isoformat() if days else ""} '
        f"to {days[-1].isoformat() if days else ''}; the highest day had "
        f"{max(counts.values(), default=0)}.</desc>",
    ]
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        label = f"{top * fraction:g}"
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">{label}</text>'
        )
    for i, day in enumerate(days):
        count = counts[day]
        h = plot_h * count / top if count else 0
        x = LEFT + i * slot
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{day.isoformat()}: {count}</title></rect>'
        )
    for i in sorted({0, len(days) // 2, len(days) - 1}) if days else []:
        x = LEFT + i * slot + bar / 2
        anchor = "start" if i == 0 else "end" if i == len(days) - 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}" class="axis">'
            f"{days[i].strftime('%b %-d')}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers, dates and the escaped title only


def bar_width(count: int, largest: int) -> float:
    """A funnel bar's width in percent of the largest stage."""
    return round(100 * count / largest, 1) if largest else 0.0

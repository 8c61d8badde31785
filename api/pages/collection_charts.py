"""Server-rendered SVG bar charts for the collection dashboard: no JavaScript, no build step; each bar carries its
value as text (and a <title> for a tooltip), so the chart reads without colour and in a screen reader."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 560
ROW = 30
LABEL = 130
VALUE = 110


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, float, str]]) -> Markup:
    """Horizontal bars: (label, value, value as shown) per row, scaled to the largest value."""
    top = max((value for _, value, _ in rows), default=0.0) or 1.0
    span = WIDTH - LABEL - VALUE
    height = ROW * max(len(rows), 1) + 10
    parts = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value, shown) in enumerate(rows):
        y = 5 + i * ROW
        length = max(0.0, value) / top * span
        parts.append(
            f'<g class="bar" data-label="{escape(label)}" data-value="{escape(shown)}">'
            f"<title>{escape(label)}: {escape(shown)}</title>"
            f'<text x="0" y="{y + 19}" font-size="13">{escape(label)}</text>'
            f'<rect x="{LABEL}" y="{y + 4}" width="{length:.1f}" height="{ROW - 10}" rx="3" fill="#2f6fb3"></rect>'
            f'<text x="{LABEL + length + 6:.1f}" y="{y + 19}" font-size="13">{escape(shown)}</text></g>'
        )
    if not rows:
        parts.append('<text x="0" y="20" font-size="13">No data yet.</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def rate_gauge(chart_id: str, title: str, rate: float | None) -> Markup:
    """One rate (0-1) as a filled bar with its percentage; None shows 'no data'."""
    shown = "no data" if rate is None else f"{rate * 100:.1f}%"
    filled = 0.0 if rate is None else max(0.0, min(1.0, rate)) * (WIDTH - VALUE)
    return Markup(
        f'<svg id="{escape(chart_id)}" class="chart" role="img" aria-label="{escape(title)}: {escape(shown)}" '
        f'viewBox="0 0 {WIDTH} 34" width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<rect x="0" y="6" width="{WIDTH - VALUE}" height="20" rx="3" fill="#e4e9f0"></rect>'
        f'<rect x="0" y="6" width="{filled:.1f}" height="20" rx="3" fill="#2e8b57"></rect>'
        f'<text x="{WIDTH - VALUE + 8}" y="21" font-size="14" class="rate">{escape(shown)}</text></svg>'
    )

"""Server-rendered SVG charts for the dashboard (no script, no inline style: the portal's CSP allows neither).

Each chart is an `<svg>` with a `viewBox`, so it scales to the width of its card (CSS `.chart { width: 100% }`)
and stays readable on a phone; every figure is also in the chart's `<title>` elements and in a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value (drawn), and the text shown for it."""

    label: str
    value: Decimal
    text: str


def _scale(values: Sequence[Decimal]) -> Decimal:
    top = max(values, default=Decimal(0))
    return top if top > 0 else Decimal(1)


def columns(title: str, bars: Sequence[Bar], css: str = "series-a", every: int = 7) -> Markup:
    """A column chart (e.g. one column per day), a label under every `every`-th column."""
    width, height, base, left = 480, 190, 160, 8
    step = (width - left * 2) / max(len(bars), 1)
    top = _scale([b.value for b in bars])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{base}" x2="{width - left}" y2="{base}"/>',
    ]
    for i, bar in enumerate(bars):
        h = float(bar.value / top) * (base - 20)
        x = left + i * step
        parts.append(
            f'<rect class="{css}" x="{x + step * 0.15:.1f}" y="{base - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{escape(bar.label)}: {escape(bar.text)}</title></rect>'
        )
        if i % every == 0 or i == len(bars) - 1:
            parts.append(f'<text class="tick" x="{x + step / 2:.1f}" y="{base + 20}">{escape(bar.label)}</text>')
    parts.append(f'<text class="peak" x="{left}" y="14">max {escape(_peak(bars))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(title: str, rows: Sequence[Bar], css: str = "series-a") -> Markup:
    """A horizontal bar chart (buckets, funnel steps, targets): a row per bar with its label and text."""
    width, row, label_w = 480, 34, 130
    height = row * max(len(rows), 1) + 6
    top = _scale([b.value for b in rows])
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(rows):
        y = i * row + 4
        w = float(bar.value / top) * (width - label_w - 140)
        parts.append(f'<text class="label" x="0" y="{y + 20}">{escape(bar.label)}</text>')
        parts.append(
            f'<rect class="{css}" x="{label_w}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row - 12}">'
            f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        parts.append(f'<text class="value" x="{label_w + max(w, 1) + 8:.1f}" y="{y + 20}">{escape(bar.text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _peak(bars: Sequence[Bar]) -> str:
    best = max(bars, key=lambda b: b.value, default=None)
    return best.text if best is not None else "0"

"""Template helpers of the quality card: server-rendered SVG bar charts and percentages."""

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()

BAR_WIDTH = 220
ROW_HEIGHT = 20
LABEL_WIDTH = 130


@register.filter
def bps_percent(value) -> str:
    """Basis points as a percentage with one decimal: 1234 -> "12.3%"."""
    if value is None:
        return "—"
    return f"{int(value) / 100:.1f}%"


@register.simple_tag
def bar_chart(bins, label_key: str = "label", value_key: str = "count", title: str = ""):
    """A horizontal bar chart of `[{label, count}]` as inline SVG (no JavaScript)."""
    bins = list(bins or [])
    if not bins:
        return ""
    top = max((int(item.get(value_key) or 0) for item in bins), default=0) or 1
    height = ROW_HEIGHT * len(bins) + 4
    width = LABEL_WIDTH + BAR_WIDTH + 60
    rows = []
    for index, item in enumerate(bins):
        count = int(item.get(value_key) or 0)
        y = index * ROW_HEIGHT + 2
        rows.append(
            (
                y + 14,
                str(item.get(label_key, "")),
                LABEL_WIDTH,
                y + 3,
                max(1, count * BAR_WIDTH // top) if count else 0,
                LABEL_WIDTH + (count * BAR_WIDTH // top) + 6,
                y + 14,
                f"{count:,}",
            )
        )
    body = format_html_join(
        "",
        '<text x="0" y="{}" class="chart-label">{}</text>'
        '<rect x="{}" y="{}" height="14" width="{}" class="chart-bar"></rect>'
        '<text x="{}" y="{}" class="chart-value">{}</text>',
        rows,
    )
    return format_html(
        '<svg class="chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}">'
        "<title>{}</title>{}</svg>",
        title,
        width,
        height,
        width,
        height,
        title,
        body,
    )

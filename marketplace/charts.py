"""Small bar charts drawn as inline SVG on the server: no script, no CDN, readable as a table.

`bar_chart` turns labelled integer values into geometry; the template `_bar_chart.html` draws
it. Values may be negative (a month with more refunds than sales): bars hang below the zero line.
"""

from collections.abc import Callable, Sequence


def bar_chart(
    points: Sequence[tuple[str, int]],
    *,
    title: str,
    value_label: Callable[[int], str] = str,
    width: int = 640,
    height: int = 200,
) -> dict:
    """Geometry for an SVG bar chart of `(label, value)` points, in order."""
    top, bottom, left, right = 16, 28, 8, 8
    plot_height = height - top - bottom
    values = [value for _, value in points]
    high = max([0, *values])
    low = min([0, *values])
    span = (high - low) or 1
    zero_y = top + plot_height * high / span
    slot = (width - left - right) / max(len(points), 1)
    bar_width = max(slot * 0.7, 2)
    bars = []
    for index, (label, value) in enumerate(points):
        bar_height = plot_height * abs(value) / span
        x = left + index * slot + (slot - bar_width) / 2
        y = zero_y - bar_height if value >= 0 else zero_y
        bars.append(
            {
                "x": round(x, 1),
                "y": round(y, 1),
                "width": round(bar_width, 1),
                "height": round(max(bar_height, 0.5 if value else 0), 1),
                "label": label,
                "label_x": round(x + bar_width / 2, 1),
                "value": value,
                "value_text": value_label(value),
                "is_negative": value < 0,
            }
        )
    return {
        "title": title,
        "width": width,
        "height": height,
        "zero_y": round(zero_y, 1),
        "label_y": height - 8,
        "bars": bars,
        "is_empty": not any(values),
    }

import markdown as markdown_lib
import nh3
from django import template
from django.utils.safestring import mark_safe

register = template.Library()

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
}


@register.filter
def markdown(text: str) -> str:
    """Creator-written Markdown as HTML, with everything but plain formatting stripped."""
    html = markdown_lib.markdown(
        text or "", extensions=["tables", "fenced_code"], output_format="html"
    )
    cleaned = nh3.clean(
        html, tags=_ALLOWED_TAGS, attributes={"a": {"href", "title"}}, link_rel="nofollow noopener"
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitized by nh3 on the line above


@register.filter
def status_class(status: str) -> str:
    return f"badge badge-{status}"

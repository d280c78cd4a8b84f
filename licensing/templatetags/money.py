from django import template

from licensing.money import format_minor

register = template.Library()


@register.filter
def money(amount_minor, currency):
    if amount_minor is None:
        return ""
    return format_minor(int(amount_minor), currency)

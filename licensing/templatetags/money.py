from django import template

from licensing.money import exponent, format_minor

register = template.Library()


@register.filter
def money(amount_minor, currency):
    if amount_minor is None:
        return ""
    return format_minor(int(amount_minor), currency)


@register.filter
def major(amount_minor, currency):
    """Minor units as a plain decimal a person can edit: `150000, "USD"` -> `1500.00`."""
    if amount_minor is None:
        return ""
    places = exponent(currency)
    if not places:
        return str(int(amount_minor))
    whole, part = divmod(int(amount_minor), 10**places)
    return f"{whole}.{part:0{places}d}"

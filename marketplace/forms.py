from django import forms

from licensing.models import Use
from licensing.money import parse_major
from marketplace.selectors import SORTS
from provenance.models import Dataset

SORT_CHOICES = [
    ("newest", "Newest"),
    ("price", "Price: low to high"),
    ("-price", "Price: high to low"),
    ("size", "Largest"),
    ("title", "Title"),
]


class CatalogFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    modality = forms.ChoiceField(
        label="Modality", required=False, choices=[("", "Any modality"), *Dataset.Modality.choices]
    )
    language = forms.RegexField(
        label="Language",
        required=False,
        regex=r"^[a-zA-Z]{2,3}$",
        error_messages={"invalid": "Use a two- or three-letter language code, e.g. en."},
    )
    use = forms.ChoiceField(
        label="Permitted use", required=False, choices=[("", "Any use"), *Use.choices]
    )
    price_max = forms.CharField(label="Price up to (USD)", required=False, max_length=20)
    sort = forms.ChoiceField(
        label="Sort", required=False, choices=[c for c in SORT_CHOICES if c[0] in SORTS]
    )

    def clean_price_max(self):
        value = self.cleaned_data["price_max"]
        if not value:
            return None
        try:
            return parse_major(value, "USD")
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error

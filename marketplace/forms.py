from django import forms

from licensing.models import CURRENCY_CHOICES, LicenseTemplate, PriceModel, Use
from licensing.money import format_minor, parse_major
from marketplace.selectors import PRICE_BUCKETS, SIZE_BUCKETS, SORTS
from provenance.models import Dataset, ProvenanceDeclaration, Review, RightsClaim

SORT_CHOICES = [
    ("relevance", "Relevance"),
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
    price = forms.ChoiceField(
        label="Price range",
        required=False,
        choices=[("", "Any price"), *((k, v[0]) for k, v in PRICE_BUCKETS.items())],
    )
    authorship = forms.ChoiceField(
        label="Authorship",
        required=False,
        choices=[("", "Any authorship"), *ProvenanceDeclaration.Authorship.choices],
    )
    size = forms.ChoiceField(
        label="Size",
        required=False,
        choices=[("", "Any size"), *((k, v[0]) for k, v in SIZE_BUCKETS.items())],
    )
    exclusive = forms.BooleanField(label="Exclusive license offered", required=False)
    sort = forms.ChoiceField(
        label="Sort", required=False, choices=[c for c in SORT_CHOICES if c[0] in SORTS]
    )
    # Backed by the measured quality card (provenance.quality), never by declarations.
    no_synthetic = forms.BooleanField(
        label="Human-made: no synthetic signals measured", required=False
    )
    few_duplicates = forms.BooleanField(label="Near-duplicates under 1%", required=False)
    no_overlap = forms.BooleanField(
        label="No overlap with my licenses",
        required=False,
        help_text="Hides data your organization already licenses, measured record by record.",
    )

    def __init__(self, *args, has_licenses: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Only a buyer organization has licenses to compare with.
        if not has_licenses:
            del self.fields["no_overlap"]

    def clean_price_max(self):
        value = self.cleaned_data["price_max"]
        if not value:
            return None
        try:
            return parse_major(value, "USD")
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error


# --- Creator portal: datasets, uploads, declarations, license options ---------------------


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in (value or "").replace("\n", ",").split(",") if item.strip()]


class DatasetForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    summary = forms.CharField(
        label="Summary", max_length=300, required=False, help_text="One sentence for the catalog."
    )
    description = forms.CharField(
        label="Description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="Markdown: what the data is, how it was made, what it is good for.",
    )
    modality = forms.ChoiceField(label="Modality", choices=Dataset.Modality.choices)
    languages = forms.CharField(
        label="Languages",
        required=False,
        max_length=200,
        help_text="ISO 639-1 codes separated by commas, e.g. en, cy.",
    )
    tags = forms.CharField(
        label="Tags", required=False, max_length=500, help_text="Separated by commas."
    )

    def clean_languages(self):
        return _split_list(self.cleaned_data["languages"])

    def clean_tags(self):
        return _split_list(self.cleaned_data["tags"])

    @classmethod
    def initial_for(cls, dataset) -> dict:
        return {
            "title": dataset.title,
            "summary": dataset.summary,
            "description": dataset.description,
            "modality": dataset.modality,
            "languages": ", ".join(dataset.languages),
            "tags": ", ".join(dataset.tags),
        }


class VersionNotesForm(forms.Form):
    notes = forms.CharField(
        label="What changed in this version",
        required=False,
        max_length=10_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown; reviewers and buyers read it.",
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"multiple": True}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files",
        help_text="Choose many at once. Large files upload in resumable chunks.",
    )
    expand_archives = forms.BooleanField(
        label="Expand archives (.zip, .tar, .tar.gz) into their files",
        required=False,
        initial=True,
    )


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")


class DeclarationForm(forms.Form):
    source_url = forms.URLField(
        label="Source URL",
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="Where the data was published or collected, if online.",
    )
    source_description = forms.CharField(
        label="Source description",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Or describe the source in words. A URL or a description is needed.",
    )
    collection_method = forms.CharField(
        label="Collection method",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="How the data was gathered, written, recorded or annotated.",
    )
    collection_started_on = forms.DateField(
        label="Collection started",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    collection_ended_on = forms.DateField(
        label="Collection ended",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    consent_basis = forms.ChoiceField(
        label="Consent basis",
        required=False,
        choices=[("", "Choose…"), *ProvenanceDeclaration.ConsentBasis.choices],
    )
    rights_holder = forms.CharField(label="Rights holder", required=False, max_length=200)
    authorship = forms.ChoiceField(
        label="Authorship",
        choices=ProvenanceDeclaration.Authorship.choices,
        widget=forms.RadioSelect,
    )
    synthetic_share_percent = forms.DecimalField(
        label="Synthetic share (%)",
        required=False,
        min_value=0,
        max_value=100,
        decimal_places=2,
        help_text="For hybrid data: the share of synthetic content, above 0 and below 100.",
    )
    opt_out_status = forms.ChoiceField(
        label="Opt-out and TDM reservations",
        required=False,
        choices=[("", "Choose…"), *ProvenanceDeclaration.OptOutStatus.choices],
    )
    opt_out_notes = forms.CharField(
        label="Reservation notes",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Which reservations were found (robots.txt, TDMRep, ai.txt…) and what was done.",
    )
    parents = forms.MultipleChoiceField(
        label="Derived from (parent datasets)",
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="For derived data: the approved versions it was made from.",
    )

    def __init__(self, *args, parent_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parents"].choices = list(parent_choices)

    def clean(self):
        data = super().clean()
        authorship = data.get("authorship")
        share = data.get("synthetic_share_percent")
        if authorship == ProvenanceDeclaration.Authorship.HUMAN:
            data["synthetic_share_bps"] = 0
        elif authorship == ProvenanceDeclaration.Authorship.SYNTHETIC:
            data["synthetic_share_bps"] = 10_000
        elif authorship == ProvenanceDeclaration.Authorship.HYBRID:
            if share is None:
                self.add_error(
                    "synthetic_share_percent", "Give the synthetic share of hybrid data."
                )
            elif not 0 < share < 100:
                self.add_error(
                    "synthetic_share_percent",
                    "Hybrid data is partly synthetic: the share lies above 0% and below 100%.",
                )
            else:
                data["synthetic_share_bps"] = int(share * 100)
        started, ended = data.get("collection_started_on"), data.get("collection_ended_on")
        if started and ended and ended < started:
            self.add_error("collection_ended_on", "The collection must end after it starts.")
        return data

    def changes(self) -> dict:
        data = self.cleaned_data
        names = [
            "source_url",
            "source_description",
            "collection_method",
            "collection_started_on",
            "collection_ended_on",
            "consent_basis",
            "rights_holder",
            "authorship",
            "synthetic_share_bps",
            "opt_out_status",
            "opt_out_notes",
        ]
        return {name: data[name] for name in names if name in data}

    @classmethod
    def initial_for(cls, declaration, parent_ids) -> dict:
        return {
            "source_url": declaration.source_url,
            "source_description": declaration.source_description,
            "collection_method": declaration.collection_method,
            "collection_started_on": declaration.collection_started_on,
            "collection_ended_on": declaration.collection_ended_on,
            "consent_basis": declaration.consent_basis,
            "rights_holder": declaration.rights_holder,
            "authorship": declaration.authorship,
            "synthetic_share_percent": (
                declaration.synthetic_share_bps / 100
                if declaration.authorship == ProvenanceDeclaration.Authorship.HYBRID
                else None
            ),
            "opt_out_status": declaration.opt_out_status,
            "opt_out_notes": declaration.opt_out_notes,
            "parents": parent_ids,
        }


class EvidenceForm(forms.Form):
    title = forms.CharField(label="Document title", max_length=200)
    file = forms.FileField(label="Document", help_text="A contract, consent form or licence.")


class LicenseOptionForm(forms.Form):
    """Terms and price of one license option, starting from a standard template."""

    name = forms.CharField(label="Name", max_length=120)
    permitted_uses = forms.MultipleChoiceField(
        label="Permitted uses", choices=Use.choices, widget=forms.CheckboxSelectMultiple
    )
    commercial_use = forms.BooleanField(label="Commercial use allowed", required=False)
    term_days = forms.IntegerField(
        label="Term (days)", required=False, min_value=1, help_text="Empty for a perpetual license."
    )
    territories = forms.CharField(
        label="Territories",
        max_length=500,
        initial="worldwide",
        help_text="worldwide, or ISO country codes separated by commas (e.g. GB, IE).",
    )
    is_exclusive = forms.BooleanField(label="Exclusive", required=False)
    attribution_required = forms.BooleanField(label="Attribution required", required=False)
    model_cap = forms.IntegerField(
        label="Model cap", required=False, min_value=1, help_text="Most models; empty for none."
    )
    seat_cap = forms.IntegerField(
        label="Seat cap", required=False, min_value=1, help_text="Most seats; empty for none."
    )
    price_model = forms.ChoiceField(label="Price model", choices=PriceModel.choices)
    price = forms.CharField(
        label="Price", max_length=20, help_text="In the currency below, e.g. 1500.00."
    )
    currency = forms.ChoiceField(label="Currency", choices=CURRENCY_CHOICES)

    def clean(self):
        data = super().clean()
        price, currency = data.get("price"), data.get("currency")
        if price is not None and currency:
            try:
                data["price_minor"] = parse_major(price, currency)
            except ValueError as error:
                self.add_error("price", str(error))
        return data

    def terms(self) -> dict:
        data = self.cleaned_data
        return {
            "permitted_uses": data["permitted_uses"],
            "commercial_use": data["commercial_use"],
            "term_days": data["term_days"],
            "territories": _split_list(data["territories"]),
            "is_exclusive": data["is_exclusive"],
            "attribution_required": data["attribution_required"],
            "model_cap": data["model_cap"],
            "seat_cap": data["seat_cap"],
            "price_model": data["price_model"],
            "price_minor": data["price_minor"],
            "currency": data["currency"],
        }

    @classmethod
    def initial_for(cls, terms, *, name: str) -> dict:
        price = format_minor(terms.price_minor, terms.currency)
        digits = "".join(char for char in price if char.isdigit() or char == ".")
        return {
            "name": name,
            "permitted_uses": list(terms.permitted_uses),
            "commercial_use": terms.commercial_use,
            "term_days": terms.term_days,
            "territories": ", ".join(terms.territories or ["worldwide"]),
            "is_exclusive": terms.is_exclusive,
            "attribution_required": terms.attribution_required,
            "model_cap": terms.model_cap,
            "seat_cap": terms.seat_cap,
            "price_model": terms.price_model,
            "price": digits,
            "currency": terms.currency,
        }


class TemplateChoiceForm(forms.Form):
    template = forms.ModelChoiceField(
        label="Start from", queryset=LicenseTemplate.objects.none(), empty_label=None
    )

    def __init__(self, *args, templates=None, **kwargs):
        super().__init__(*args, **kwargs)
        if templates is not None:
            self.fields["template"].queryset = templates


# --- Checkout (issue 7) ------------------------------------------------------------------

TEST_CARDS = [
    ("4242424242424242", "4242 4242 4242 4242: succeeds"),
    ("pm_card_chargeCustomerFail", "A card that is declined"),
]


class CheckoutForm(forms.Form):
    payment_method = forms.ChoiceField(
        choices=[("card", "Card"), ("invoice", "Invoice (purchase order)")],
        widget=forms.RadioSelect,
        initial="card",
    )
    test_card = forms.ChoiceField(
        choices=TEST_CARDS, required=False, label="Test card", help_text="Test mode: no real money."
    )
    po_number = forms.CharField(max_length=64, required=False, label="PO number")
    billing_company = forms.CharField(max_length=200, required=False, label="Billing company")
    billing_address = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    billing_vat_id = forms.CharField(max_length=32, required=False, label="VAT ID")
    checkout_token = forms.CharField(widget=forms.HiddenInput)


class RefundForm(forms.Form):
    amount = forms.CharField(
        required=False, help_text="Leave empty to refund everything that is left."
    )
    reason = forms.CharField(max_length=300, required=False)


class VerifyForm(forms.Form):
    certificate = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="Paste the certificate JSON, or give a license id below.",
    )
    license_id = forms.CharField(max_length=40, required=False, label="License id")


# --- Reviewer desk and rights claims (issue 4) ---------------------------------------------


class ReviewQueueFilterForm(forms.Form):
    q = forms.CharField(label="Title", required=False, max_length=200)
    modality = forms.ChoiceField(
        label="Modality", required=False, choices=[("", "Any modality"), *Dataset.Modality.choices]
    )
    organization = forms.SlugField(label="Creator (slug)", required=False, max_length=60)


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Decision", choices=Review.Decision.choices, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        label="Reason (the creator reads this)",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in Review.CHECKLIST:
            self.fields[name] = forms.BooleanField(label=label, required=False)

    def checklist(self) -> dict:
        return {name: self.cleaned_data.get(name, False) for name, _ in Review.CHECKLIST}


class ClaimTriageForm(forms.Form):
    reason = forms.CharField(
        label="Reason", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )


class RightsClaimForm(forms.Form):
    claimant_name = forms.CharField(label="Your name", max_length=200)
    claimant_email = forms.EmailField(label="Your email")
    claimant_organization = forms.CharField(
        label="Organization (optional)", max_length=200, required=False
    )
    basis = forms.ChoiceField(label="Basis of the claim", choices=RightsClaim.Basis.choices)
    statement = forms.CharField(
        label="What do you hold rights in, and why?",
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=10_000,
    )
    evidence = forms.FileField(label="Evidence (optional)", required=False)


class CounterStatementForm(forms.Form):
    statement = forms.CharField(
        label="Your counter-statement",
        widget=forms.Textarea(attrs={"rows": 6}),
        max_length=10_000,
    )


class UsageReportForm(forms.Form):
    """Shape only: the period and the terms are checked by `licensing.usage.file_usage_report`."""

    period_start_on = forms.DateField(
        label="Period from", widget=forms.DateInput(attrs={"type": "date"})
    )
    period_end_on = forms.DateField(
        label="Period to (inclusive)", widget=forms.DateInput(attrs={"type": "date"})
    )
    purpose = forms.ChoiceField(label="Purpose", choices=Use.choices)
    models_trained = forms.CharField(
        label="Models trained or fine-tuned (one per line)",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=20_000,
    )
    records_used = forms.IntegerField(
        label="Records used", min_value=0, max_value=10**15, initial=0
    )
    tokens_used = forms.IntegerField(label="Tokens used", min_value=0, max_value=10**15, initial=0)
    seats = forms.IntegerField(
        label="Deployments or seats", min_value=0, max_value=10**6, initial=0
    )
    note = forms.CharField(
        label="Note (optional)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
    )

    def clean_models_trained(self) -> list[str]:
        text = self.cleaned_data.get("models_trained") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]

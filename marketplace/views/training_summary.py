"""The buyer's training-content summary: pick licenses, read it as HTML, download PDF or JSON.

The page renders one generation of the summary; its download links carry a signed pin of that
generation (ledger entry and time), so the PDF and the JSON are rebuilt with the same payload
and the same SHA-256 as the page shows. Licenses come from the buyer organization's own
licenses only: any other id is refused by the form and again by the summary itself.
"""

import json

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode

from accounts.decorators import organization_required
from accounts.errors import DomainError
from licensing import selectors as licensing_selectors
from licensing import summaries

buyer_required = organization_required(side="buyer")


class TrainingSummaryForm(forms.Form):
    """Which licenses, and for which model. Choices are the organization's licenses only."""

    license = forms.MultipleChoiceField(
        label="Licenses",
        widget=forms.CheckboxSelectMultiple,
        error_messages={
            "required": "Choose at least one license.",
            "invalid_choice": "%(value)s is not a license of your organization.",
        },
    )
    model = forms.CharField(
        label="Model name (optional)",
        required=False,
        max_length=summaries.MAX_MODEL_NAME,
        help_text="The model (and version) this summary is for, e.g. tide-tales-1b.",
    )
    generate = forms.CharField(widget=forms.HiddenInput, required=False, initial="1")

    def __init__(self, *args, licenses=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.licenses = list(licenses)
        self.fields["license"].choices = [
            (
                license.pk,
                f"{license.version.dataset.title} v{license.version.number} · {license.pk} "
                f"({license.get_status_display().lower()})",
            )
            for license in self.licenses
        ]
        self.fields["license"].initial = [license.pk for license in self.licenses]

    def chosen_license_ids(self) -> list[str] | None:
        """The chosen ids, or None when every license is chosen (the summary of all)."""
        chosen = self.cleaned_data["license"]
        if set(chosen) == {license.pk for license in self.licenses}:
            return None
        return chosen


def _form(request) -> TrainingSummaryForm:
    licenses = licensing_selectors.licenses_of(organization=request.organization).order_by(
        "-created_at", "id"
    )[: summaries.MAX_LICENSES]
    bound = "generate" in request.GET or "license" in request.GET
    return TrainingSummaryForm(request.GET if bound else None, licenses=licenses)


def _summary(request, form: TrainingSummaryForm, *, pinned: bool) -> dict:
    """The signed summary the form asks for; the pin's generation again when `pinned`."""
    license_ids = form.chosen_license_ids()
    seq = at = None
    if pinned and request.GET.get("pin"):
        pin = summaries.read_summary_pin(organization=request.organization, pin=request.GET["pin"])
        seq, at = pin.seq, pin.generated_at
        if pin.is_all:
            license_ids = None
    return summaries.signed_training_summary(
        organization=request.organization,
        license_ids=license_ids,
        model_name=form.cleaned_data["model"],
        ledger_seq=seq,
        now=at,
    )


@buyer_required
def training_summary(request):
    form = _form(request)
    context = {"form": form, "has_licenses": bool(form.licenses)}
    if form.is_bound and form.is_valid():
        try:
            envelope = _summary(request, form, pinned=False)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            pin = summaries.summary_pin(
                organization=request.organization, payload=envelope["payload"]
            )
            query = urlencode(
                [("license", value) for value in form.cleaned_data["license"]]
                + [("model", form.cleaned_data["model"]), ("pin", pin)]
            )
            context.update(
                summary=envelope["payload"],
                kid=envelope["kid"],
                payload_sha256=summaries.payload_sha256(envelope["payload"]),
                pdf_url=f"{reverse('library:training-summary-download', args=['pdf'])}?{query}",
                json_url=f"{reverse('library:training-summary-download', args=['json'])}?{query}",
            )
    return render(request, "marketplace/library/training_summary.html", context)


def _bad_request(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


@buyer_required
def training_summary_download(request, fmt: str):
    if fmt not in ("pdf", "json"):
        return _bad_request("Choose pdf or json.")
    form = _form(request)
    if not form.is_bound or not form.is_valid():
        errors = "; ".join(message for messages in form.errors.values() for message in messages)
        return _bad_request(errors or "Generate the summary on its page first.")
    try:
        envelope = _summary(request, form, pinned=True)
    except DomainError as error:
        return _bad_request(error.message)
    day = envelope["payload"]["generated_at"][:10]
    name = f"training-summary-{request.organization.slug}-{day}"
    if fmt == "pdf":
        response = HttpResponse(
            summaries.training_summary_pdf(envelope), content_type="application/pdf"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    else:
        response = HttpResponse(
            json.dumps(envelope, indent=2, sort_keys=True, ensure_ascii=False),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    response["Cache-Control"] = "private, no-store"
    return response

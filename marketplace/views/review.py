"""The reviewer desk, for Wellspring's staff: the review queue, decisions and claim triage.

Everybody else gets 404 (or the login page): the desk does not exist for them.
"""

import mimetypes

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import staff_required
from accounts.errors import DomainError
from accounts.views import raise_for_http
from marketplace.forms import ClaimTriageForm, DecisionForm, ReviewQueueFilterForm
from provenance import claims as claim_services
from provenance import selectors, storage
from provenance.reviews import decide_version


@staff_required
def queue(request):
    form = ReviewQueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    versions = selectors.review_queue(
        viewer=request.user,
        modality=filters.get("modality", ""),
        organization=filters.get("organization", ""),
        q=filters.get("q", ""),
    )
    open_claims = selectors.claims_for_review(viewer=request.user, status="open").count()
    return render(
        request,
        "marketplace/review/queue.html",
        {"versions": versions, "form": form, "open_claims": open_claims},
    )


def _version(request, version_id: str):
    version = selectors.version_for_review(viewer=request.user, version_id=version_id)
    if version is None:
        raise Http404("No such version.")
    return version


def _review_context(request, version, form=None) -> dict:
    declaration = selectors.declaration_of(version=version)
    files = selectors.files_of_version(version=version)
    return {
        "version": version,
        "dataset": version.dataset,
        "declaration": declaration,
        "evidence": list(declaration.evidence.all()) if declaration.pk else [],
        "parents": list(declaration.parents.select_related("dataset")) if declaration.pk else [],
        "files": files[:100],
        "file_total": files.count(),
        "previews": selectors.file_previews(version=version),
        "quality": selectors.quality_report_of(version=version),
        "reviews": selectors.reviews_of(version=version),
        "ledger": selectors.ledger_for_version(version=version),
        "form": form or DecisionForm(),
        "can_decide": version.status == version.Status.SUBMITTED,
    }


@staff_required
def version_review(request, version_id: str):
    version = _version(request, version_id)
    return render(request, "marketplace/review/version.html", _review_context(request, version))


@staff_required
@require_POST
def version_decide(request, version_id: str):
    version = _version(request, version_id)
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            review = decide_version(
                actor=request.user,
                version=version,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
                checklist=form.checklist(),
            )
        except DomainError as error:
            if error.status == 404:
                raise_for_http(error)
            form.add_error(None, error.message)
        else:
            messages.success(
                request,
                f"{version.dataset.title} v{version.number}: {review.get_decision_display().lower()}.",
            )
            return redirect("review:queue")
    return render(
        request,
        "marketplace/review/version.html",
        _review_context(request, version, form),
        status=400,
    )


def _inline_response(name: str, filename: str, media_type: str):
    try:
        stream = storage.open_stream(name)
        handle = stream.__enter__()
    except FileNotFoundError as error:
        raise Http404("The file is missing.") from error
    media_type = media_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    # Only types a browser shows safely render inline; anything else downloads.
    safe = media_type in ("application/pdf", "text/plain", "text/csv") or media_type.startswith(
        "image/"
    )
    if media_type.startswith("image/svg"):
        safe = False
    response = FileResponse(handle, as_attachment=not safe, filename=filename)
    response["Content-Type"] = media_type if safe else "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    )
    return response


@staff_required
@require_GET
def evidence_view(request, evidence_id: str):
    evidence = selectors.evidence_for_viewer(
        viewer=request.user, organization=None, evidence_id=evidence_id
    )
    if evidence is None:
        raise Http404("No such document.")
    filename = evidence.storage_name.rsplit("/", 1)[-1]
    return _inline_response(evidence.storage_name, filename, evidence.media_type)


@staff_required
@require_GET
def file_view(request, file_id: str):
    data_file = selectors.file_for_review(viewer=request.user, file_id=file_id)
    if data_file is None:
        raise Http404("No such file.")
    return _inline_response(
        data_file.storage_name, data_file.path.rsplit("/", 1)[-1], data_file.media_type
    )


# --- Rights claims ------------------------------------------------------------------------


@staff_required
def claims(request):
    status = request.GET.get("status", "open")
    if status not in ("", "open", "dismissed", "upheld", "withdrawn"):
        status = "open"
    return render(
        request,
        "marketplace/review/claims.html",
        {
            "claims": selectors.claims_for_review(viewer=request.user, status=status),
            "status": status,
        },
    )


def _claim(request, claim_id: str):
    claim = selectors.claim_for_review(viewer=request.user, claim_id=claim_id)
    if claim is None:
        raise Http404("No such claim.")
    return claim


@staff_required
def claim_detail(request, claim_id: str):
    claim = _claim(request, claim_id)
    return render(
        request,
        "marketplace/review/claim.html",
        {
            "claim": claim,
            "form": ClaimTriageForm(),
            "ledger": selectors.ledger_for_subject(
                subject_type="rights_claim", subject_id=claim.pk
            ),
        },
    )


_ACTIONS = {
    "dismiss": (claim_services.dismiss_claim, "Claim dismissed."),
    "uphold": (claim_services.uphold_claim, "Claim upheld: the dataset is suspended."),
    "withdraw": (claim_services.withdraw_claim, "Claim marked withdrawn."),
    "reinstate": (claim_services.reinstate_dataset, "Claim lifted: the dataset is reinstated."),
}


@staff_required
@require_POST
def claim_action(request, claim_id: str, action: str):
    claim = _claim(request, claim_id)
    if action not in _ACTIONS:
        raise Http404("No such action.")
    service, done = _ACTIONS[action]
    form = ClaimTriageForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a reason.")
        return redirect("review:claim", claim.pk)
    try:
        service(actor=request.user, claim=claim, reason=form.cleaned_data["reason"])
    except DomainError as error:
        if error.status == 404:
            raise_for_http(error)
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    return redirect("review:claim", claim.pk)


@staff_required
@require_GET
def claim_evidence(request, claim_id: str):
    claim = _claim(request, claim_id)
    if not claim.evidence_storage_name:
        raise Http404("This claim has no evidence file.")
    return _inline_response(
        claim.evidence_storage_name, claim.evidence_name or "evidence", claim.evidence_media_type
    )

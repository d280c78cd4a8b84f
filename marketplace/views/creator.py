"""The creator portal: datasets, versions, uploads, ingest progress, declarations, licensing.

Every object is loaded through an organization-scoped selector: another organization's ids
answer 404. Views are short: bind a form, call one service, show a DomainError on the form.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import organization_required
from accounts.errors import DomainError, NotFound, PermissionDenied
from accounts.views import add_domain_error, raise_for_http
from licensing import services as licensing
from licensing.models import LicenseOption, LicenseTemplate
from marketplace.forms import (
    ARCHIVE_SUFFIXES,
    CounterStatementForm,
    DatasetForm,
    DeclarationForm,
    EvidenceForm,
    LicenseOptionForm,
    TemplateChoiceForm,
    UploadForm,
    VersionNotesForm,
)
from provenance import selectors, services, storage, uploads
from provenance.claims import submit_counter_statement
from provenance.models import DatasetVersion

FILES_PER_PAGE = 100
creator_required = organization_required(side="creator")


def _dataset(request, dataset_id: str):
    dataset = selectors.dataset_of(organization=request.organization, dataset_id=dataset_id)
    if dataset is None:
        raise Http404("No such dataset.")
    return dataset


def _version(request, version_id: str) -> DatasetVersion:
    version = selectors.version_of(organization=request.organization, version_id=version_id)
    if version is None:
        raise Http404("No such version.")
    return version


def _option(request, option_id: str) -> LicenseOption:
    option = (
        LicenseOption.objects.filter(pk=option_id, dataset__organization=request.organization)
        .select_related("dataset")
        .first()
    )
    if option is None:
        raise Http404("No such license option.")
    return option


def _refuse(request, error: DomainError, target):
    """A refused action on a page without a form: the reason as a message, then back."""
    if isinstance(error, NotFound | PermissionDenied):
        raise_for_http(error)
    messages.error(request, error.message)
    return redirect(target)


# --- Datasets ---------------------------------------------------------------------------


@creator_required
def home(request):
    datasets = selectors.datasets_of(organization=request.organization).prefetch_related("versions")
    return render(request, "marketplace/creator/home.html", {"datasets": datasets})


@creator_required
def dataset_new(request):
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.create_dataset(
                actor=request.user, organization=request.organization, **form.cleaned_data
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{dataset.title} is registered. Add its files next.")
            return redirect("creator:version", version_id=dataset.versions.get().pk)
    return render(request, "marketplace/creator/dataset_form.html", {"form": form})


@creator_required
def dataset_detail(request, dataset_id: str):
    dataset = _dataset(request, dataset_id)
    versions = list(selectors.versions_of_dataset(dataset=dataset))
    return render(
        request,
        "marketplace/creator/dataset_detail.html",
        {
            "dataset": dataset,
            "versions": versions,
            "options": licensing.options_of_dataset(dataset=dataset),
            "approved": [v for v in versions if v.status == DatasetVersion.Status.APPROVED],
            "has_open_version": any(v.status in services.OPEN_STATUSES for v in versions),
        },
    )


@creator_required
def dataset_edit(request, dataset_id: str):
    dataset = _dataset(request, dataset_id)
    form = DatasetForm(request.POST or None, initial=DatasetForm.initial_for(dataset))
    if request.method == "POST" and form.is_valid():
        try:
            services.update_dataset(actor=request.user, dataset=dataset, changes=form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Saved.")
            return redirect("creator:dataset", dataset_id=dataset.pk)
    return render(
        request, "marketplace/creator/dataset_form.html", {"form": form, "dataset": dataset}
    )


@creator_required
@require_POST
def version_new(request, dataset_id: str):
    dataset = _dataset(request, dataset_id)
    based_on = None
    if request.POST.get("based_on"):
        based_on = selectors.version_of(
            organization=request.organization, version_id=request.POST["based_on"]
        )
        if based_on is None or based_on.dataset_id != dataset.pk:
            raise Http404("No such version.")
    try:
        version = services.create_version(actor=request.user, dataset=dataset, based_on=based_on)
    except DomainError as error:
        return _refuse(request, error, reverse("creator:dataset", args=[dataset.pk]))
    if based_on:
        count = version.files.count()
        messages.success(
            request,
            f"Version {version.number} is a draft with the {count} file{pluralize(count)} of "
            f"version {based_on.number}, already processed. Change what you need.",
        )
    else:
        messages.success(request, f"Version {version.number} is an empty draft.")
    return redirect("creator:version", version_id=version.pk)


# --- Versions: files, uploads, ingest, submission ------------------------------------------


def _version_context(request, version: DatasetVersion) -> dict:
    files_page = Paginator(selectors.files_of_version(version=version), FILES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return {
        "dataset": version.dataset,
        "version": version,
        "progress": selectors.ingest_progress_of(version=version),
        "quality": selectors.quality_report_of(version=version),
        "files_page": files_page,
        "archives": list(selectors.archives_of_version(version=version)),
        "open_uploads": list(selectors.open_uploads_of_version(version=version)),
        "problems": selectors.submission_problems(version=version)
        if version.status == DatasetVersion.Status.DRAFT
        else [],
        "declaration": selectors.declaration_of(version=version),
        "reviews": list(selectors.reviews_of(version=version)),
        "upload_form": UploadForm(),
        "has_files": files_page.paginator.count > 0,
        "notes_form": VersionNotesForm(initial={"notes": version.notes}),
        "is_editable": version.status == DatasetVersion.Status.DRAFT,
        "uses_s3": storage.uses_s3(),
        "chunk_size": settings.UPLOAD_CHUNK_BYTES,
        "archive_suffixes": ",".join(ARCHIVE_SUFFIXES),
    }


@creator_required
def version_detail(request, version_id: str):
    version = _version(request, version_id)
    return render(
        request, "marketplace/creator/version_detail.html", _version_context(request, version)
    )


@creator_required
@require_GET
def version_progress(request, version_id: str):
    """The progress panel alone, for htmx polling; a plain request gets the whole page."""
    version = _version(request, version_id)
    if not request.headers.get("HX-Request"):
        return redirect("creator:version", version_id=version.pk)
    progress = selectors.ingest_progress_of(version=version)
    response = render(
        request,
        "marketplace/creator/_progress.html",
        {
            "version": version,
            "progress": progress,
            "is_editable": False,
            "has_files": selectors.files_of_version(version=version).exists(),
        },
    )
    if request.GET.get("polling") and not progress.is_active:
        # The run just ended: reload the page once, so the files and checklist show its outcome.
        response["HX-Refresh"] = "true"
    return response


@creator_required
@require_POST
def version_notes(request, version_id: str):
    version = _version(request, version_id)
    form = VersionNotesForm(request.POST)
    target = reverse("creator:version", args=[version.pk])
    if not form.is_valid():
        messages.error(request, form.errors["notes"][0])
        return redirect(target)
    try:
        services.update_version_notes(
            actor=request.user, version=version, notes=form.cleaned_data["notes"]
        )
    except DomainError as error:
        return _refuse(request, error, target)
    messages.success(request, "Notes saved.")
    return redirect(target)


@creator_required
@require_POST
def files_upload(request, version_id: str):
    """The form without JavaScript: every file in one request (the script uploads in chunks)."""
    version = _version(request, version_id)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        for error in form.errors.get("files", ["Choose at least one file."]):
            messages.error(request, error)
        return redirect("creator:version", version_id=version.pk)
    added, refused = 0, []
    for upload in form.cleaned_data["files"]:
        is_archive = form.cleaned_data["expand_archives"] and upload.name.lower().endswith(
            ARCHIVE_SUFFIXES
        )
        try:
            if is_archive:
                uploads.add_archive(
                    actor=request.user, version=version, name=upload.name, content=upload
                )
            else:
                services.add_file(
                    actor=request.user, version=version, path=upload.name, content=upload
                )
        except DomainError as error:
            refused.append(f"{upload.name}: {error.message}")
        else:
            added += 1
    if added:
        messages.success(request, f"{added} file{'s' if added != 1 else ''} added.")
    for message in refused:
        messages.error(request, message)
    return redirect("creator:version", version_id=version.pk)


@creator_required
@require_POST
def file_delete(request, version_id: str, file_id: str):
    version = _version(request, version_id)
    data_file = selectors.files_of_version(version=version).filter(pk=file_id).first()
    if data_file is None:
        raise Http404("No such file.")
    try:
        services.delete_file(actor=request.user, data_file=data_file)
    except DomainError as error:
        return _refuse(request, error, reverse("creator:version", args=[version.pk]))
    messages.success(request, f"{data_file.path} removed.")
    return redirect("creator:version", version_id=version.pk)


@creator_required
@require_POST
def archive_remove(request, version_id: str, archive_id: str):
    version = _version(request, version_id)
    archive = selectors.archives_of_version(version=version).filter(pk=archive_id).first()
    if archive is None:
        raise Http404("No such archive.")
    try:
        services.remove_archive(actor=request.user, archive=archive)
    except DomainError as error:
        return _refuse(request, error, reverse("creator:version", args=[version.pk]))
    messages.success(request, f"{archive.name} removed.")
    return redirect("creator:version", version_id=version.pk)


@creator_required
@require_POST
def upload_cancel(request, version_id: str, upload_id: str):
    version = _version(request, version_id)
    session = selectors.open_uploads_of_version(version=version).filter(pk=upload_id).first()
    if session is None:
        raise Http404("No such upload.")
    uploads.abort_upload(actor=request.user, session=session)
    messages.success(request, f"The upload of {session.path} was cancelled.")
    return redirect("creator:version", version_id=version.pk)


@creator_required
@require_POST
def ingest_start(request, version_id: str):
    version = _version(request, version_id)
    try:
        services.start_ingest(actor=request.user, version=version)
    except DomainError as error:
        return _refuse(request, error, reverse("creator:version", args=[version.pk]))
    return redirect("creator:version", version_id=version.pk)


@creator_required
@require_POST
def version_submit(request, version_id: str):
    version = _version(request, version_id)
    try:
        services.submit_version(actor=request.user, version=version)
    except DomainError as error:
        return _refuse(request, error, reverse("creator:version", args=[version.pk]))
    messages.success(request, "Submitted. A rights reviewer will look at it; you will hear back.")
    return redirect("creator:version", version_id=version.pk)


# --- Declaration --------------------------------------------------------------------------


@creator_required
def declaration(request, version_id: str):
    version = _version(request, version_id)
    current = selectors.declaration_of(version=version)
    candidates = selectors.lineage_candidates(version=version)
    choices = [
        (
            candidate.pk,
            f"{candidate.dataset.title} v{candidate.number} ({candidate.dataset.organization.name})",
        )
        for candidate in candidates[:500]
    ]
    parent_ids = list(current.parents.values_list("pk", flat=True)) if current.pk else []
    form = DeclarationForm(
        request.POST or None,
        parent_choices=choices,
        initial=DeclarationForm.initial_for(current, parent_ids),
    )
    if request.method == "POST" and form.is_valid():
        parents = list(candidates.filter(pk__in=form.cleaned_data["parents"]))
        try:
            services.update_declaration(
                actor=request.user, version=version, changes=form.changes(), parents=parents
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Declaration saved.")
            return redirect("creator:version", version_id=version.pk)
    return render(
        request,
        "marketplace/creator/declaration.html",
        {
            "version": version,
            "dataset": version.dataset,
            "form": form,
            "evidence_form": EvidenceForm(),
            "evidence": list(current.evidence.all()) if current.pk else [],
            "problems": selectors.declaration_problems(version=version),
            "is_editable": version.status in services.EDITABLE_STATUSES,
        },
    )


@creator_required
@require_POST
def evidence_add(request, version_id: str):
    version = _version(request, version_id)
    form = EvidenceForm(request.POST, request.FILES)
    target = reverse("creator:declaration", args=[version.pk])
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label}: {error}")
        return redirect(target)
    try:
        services.add_evidence(
            actor=request.user,
            version=version,
            title=form.cleaned_data["title"],
            content=form.cleaned_data["file"],
        )
    except DomainError as error:
        return _refuse(request, error, target)
    messages.success(request, "Evidence attached.")
    return redirect(target)


@creator_required
@require_POST
def evidence_remove(request, version_id: str, evidence_id: str):
    version = _version(request, version_id)
    evidence = selectors.evidence_of(organization=request.organization, evidence_id=evidence_id)
    if evidence is None or evidence.declaration.version_id != version.pk:
        raise Http404("No such document.")
    target = reverse("creator:declaration", args=[version.pk])
    try:
        services.remove_evidence(actor=request.user, evidence=evidence)
    except DomainError as error:
        return _refuse(request, error, target)
    messages.success(request, f"{evidence.title} removed.")
    return redirect(target)


# --- License terms and price ------------------------------------------------------------


@creator_required
def option_new(request, dataset_id: str):
    dataset = _dataset(request, dataset_id)
    templates = LicenseTemplate.objects.filter(
        Q(organization__isnull=True) | Q(organization=request.organization)
    ).order_by("position", "name")
    chooser = TemplateChoiceForm(request.GET or None, templates=templates)
    template = None
    if chooser.is_bound and chooser.is_valid():
        template = chooser.cleaned_data["template"]
    else:
        template = templates.first()
    initial = LicenseOptionForm.initial_for(template, name=template.name) if template else {}
    form = LicenseOptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        chosen = templates.filter(pk=request.POST.get("template") or None).first()
        try:
            licensing.add_license_option(
                actor=request.user,
                organization=request.organization,
                dataset=dataset,
                name=form.cleaned_data["name"],
                terms=form.terms(),
                template=chosen,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "License option added.")
            return redirect("creator:dataset", dataset_id=dataset.pk)
    return render(
        request,
        "marketplace/creator/option_form.html",
        {
            "dataset": dataset,
            "form": form,
            "chooser": chooser,
            "template": template,
        },
    )


@creator_required
def option_edit(request, option_id: str):
    option = _option(request, option_id)
    form = LicenseOptionForm(
        request.POST or None, initial=LicenseOptionForm.initial_for(option, name=option.name)
    )
    if request.method == "POST" and form.is_valid():
        try:
            licensing.update_license_option(
                actor=request.user,
                organization=request.organization,
                option=option,
                name=form.cleaned_data["name"],
                terms=form.terms(),
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "License option saved.")
            return redirect("creator:dataset", dataset_id=option.dataset_id)
    return render(
        request,
        "marketplace/creator/option_form.html",
        {"dataset": option.dataset, "form": form, "option": option},
    )


@creator_required
@require_POST
def option_toggle(request, option_id: str):
    option = _option(request, option_id)
    licensing.set_license_option_active(
        actor=request.user,
        organization=request.organization,
        option=option,
        is_active=not option.is_active,
    )
    messages.success(
        request,
        f"{option.name} is {'withdrawn from sale' if option.is_active else 'on sale again'}.",
    )
    return redirect("creator:dataset", dataset_id=option.dataset_id)


# --- Rights claims on the organization's datasets ------------------------------------------


@creator_required
def claims(request):
    return render(
        request,
        "marketplace/creator/claims.html",
        {"claims": selectors.claims_of(organization=request.organization)},
    )


@creator_required
def claim_detail(request, claim_id: str):
    claim = selectors.claim_of(organization=request.organization, claim_id=claim_id)
    if claim is None:
        raise Http404("No such claim.")
    form = CounterStatementForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            submit_counter_statement(
                actor=request.user,
                organization=request.organization,
                claim=claim,
                statement=form.cleaned_data["statement"],
            )
        except DomainError as error:
            if error.status == 404:
                raise_for_http(error)
            add_domain_error(form, error)
        else:
            messages.success(request, "Your counter-statement was sent to the reviewers.")
            return redirect("creator:claim", claim.pk)
    return render(
        request,
        "marketplace/creator/claim.html",
        {"claim": claim, "form": form},
        status=400 if form.errors else 200,
    )

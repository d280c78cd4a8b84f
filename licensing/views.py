"""Downloads through signed, expiring links (single files with HTTP Range, and a ZIP of all),
and the public ODRL vocabulary document."""

import json

from django.http import HttpResponse, StreamingHttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from licensing import delivery as delivering
from licensing import odrl, selectors
from licensing.services import record_download
from provenance import storage


def _refused(message: str, status: int = 403) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _filename(path: str) -> str:
    return path.rsplit("/", 1)[-1].replace('"', "")


@require_GET
def download(request, token: str):
    try:
        grant = delivering.open_token(token)
    except delivering.LinkRefused as error:
        return _refused(str(error))
    license = grant.license
    if grant.delivery is None:
        return _archive(request, license)
    item = grant.delivery
    size = item.size_bytes
    try:
        byte_range = delivering.parse_range(request.headers.get("Range", ""), size)
    except ValueError:
        response = _refused("Requested range not satisfiable.", 416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    if byte_range is None and item.fingerprint_method == "none" and storage.uses_s3():
        # Unmarked bytes on S3: the license was checked just now; S3 serves them.
        from django.core.files.storage import default_storage
        from django.shortcuts import redirect

        record_download(
            license=license,
            delivery=item,
            user=request.user,
            path=item.data_file.path,
            bytes_sent=size,
        )
        return redirect(
            default_storage.url(
                item.data_file.storage_name,
                parameters={
                    "ResponseContentDisposition": f'attachment; filename="{_filename(item.data_file.path)}"'
                },
                expire=60,
            )
        )
    start, end = byte_range or (0, size - 1)
    length = max(0, end - start + 1) if size else 0
    response = StreamingHttpResponse(
        delivering.delivered_bytes(item, start, end) if size else iter([b""]),
        status=206 if byte_range else 200,
        content_type=item.data_file.media_type or "application/octet-stream",
    )
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'attachment; filename="{_filename(item.data_file.path)}"'
    response["ETag"] = f'"{item.sha256}"'
    response["Cache-Control"] = "private, no-store"
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    record_download(
        license=license,
        delivery=item,
        user=request.user,
        path=item.data_file.path,
        bytes_sent=length,
        byte_range=request.headers.get("Range", "") if byte_range else "",
    )
    return response


def _archive(request, license):
    deliveries = list(selectors.deliveries_of(license=license).order_by("data_file__path"))
    response = StreamingHttpResponse(
        delivering.archive_stream(deliveries), content_type="application/zip"
    )
    slug = license.version.dataset.slug
    response["Content-Disposition"] = (
        f'attachment; filename="{slug}-v{license.version.number}-{license.pk}.zip"'
    )
    response["Cache-Control"] = "private, no-store"
    record_download(
        license=license,
        delivery=None,
        user=request.user,
        path=f"{slug}-v{license.version.number}.zip",
        bytes_sent=sum(item.size_bytes for item in deliveries),
    )
    return response


@require_GET
@cache_control(public=True, max_age=3600)
def odrl_vocabulary(request):
    """`<SITE_URL>/ns/odrl`: what each `ws:` term in a policy means, as JSON-LD."""
    return HttpResponse(
        json.dumps(odrl.vocabulary_document(), indent=2),
        content_type="application/ld+json; charset=utf-8",
    )

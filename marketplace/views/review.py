"""The reviewer desk, for Wellspring's staff."""

from django.shortcuts import render

from accounts.decorators import staff_required
from provenance.selectors import review_queue


@staff_required
def queue(request):
    return render(
        request, "marketplace/review/queue.html", {"versions": review_queue(viewer=request.user)}
    )

"""The creator portal."""

from django.shortcuts import render

from accounts.decorators import organization_required
from provenance.selectors import datasets_of


@organization_required(side="creator")
def home(request):
    datasets = datasets_of(organization=request.organization).prefetch_related("versions")
    return render(request, "marketplace/creator/home.html", {"datasets": datasets})

"""The buyer portal."""

from django.shortcuts import render

from accounts.decorators import organization_required


@organization_required(side="buyer")
def home(request):
    return render(request, "marketplace/library/home.html", {})

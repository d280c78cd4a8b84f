"""Guards for portal views."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect


def organization_required(side: str | None = None):
    """Logged in, acting for an organization, and (if `side` is given) one on that side.

    Without an organization the user is sent to create one; a buyer-only organization opening
    a creator page gets 404, since for it that page does not exist.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            organization = request.organization
            if organization is None:
                return redirect("accounts:organization-new")
            if side == "creator" and not organization.is_creator:
                raise Http404("This page is for creator organizations.")
            if side == "buyer" and not organization.is_buyer:
                raise Http404("This page is for buyer organizations.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def staff_required(view):
    """Wellspring's rights reviewers only; everybody else gets 404, which reveals nothing."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_staff:
            raise Http404("Not found.")
        return view(request, *args, **kwargs)

    return wrapped

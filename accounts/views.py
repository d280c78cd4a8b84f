from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from accounts import selectors, services, webhooks
from accounts.decorators import organization_required
from accounts.errors import DomainError, NotFound, PermissionDenied
from accounts.forms import (
    ApiKeyForm,
    MemberForm,
    OrganizationForm,
    SignUpForm,
    WebhookEndpointForm,
    side_flags,
)
from accounts.middleware import SESSION_KEY
from accounts.models import Organization

NEW_KEY_SESSION_KEY = "new_api_key"


def add_domain_error(form, error: DomainError) -> None:
    """Show a refused use case on the form: on the fields it names, else above the form."""
    placed = False
    for field, field_errors in (error.errors or {}).items():
        if field in form.fields:
            for message in field_errors:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def raise_for_http(error: DomainError):
    """Turn a domain error about access into the HTTP answer a page gives."""
    if isinstance(error, NotFound):
        raise Http404(error.message) from error
    if isinstance(error, PermissionDenied):
        raise DjangoPermissionDenied(error.message) from error


def signup(request):
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        is_creator, is_buyer = side_flags(form.cleaned_data["side"])
        try:
            user = services.sign_up(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                full_name=form.cleaned_data["full_name"],
                organization_name=form.cleaned_data["organization_name"],
                is_creator=is_creator,
                is_buyer=is_buyer,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, "Welcome to Wellspring.")
            return redirect("creator:home" if is_creator else "library:home")
    return render(request, "accounts/signup.html", {"form": form})


@login_required
def organization_new(request):
    form = OrganizationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        is_creator, is_buyer = side_flags(form.cleaned_data["side"])
        try:
            organization = services.create_organization(
                actor=request.user,
                name=form.cleaned_data["name"],
                is_creator=is_creator,
                is_buyer=is_buyer,
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            request.session[SESSION_KEY] = organization.pk
            messages.success(request, f"{organization.name} is ready. You are its owner.")
            return redirect("accounts:organization")
    return render(request, "accounts/organization_new.html", {"form": form})


@login_required
@require_POST
def switch_organization(request):
    slug = request.POST.get("organization", "")
    membership = next((m for m in request.memberships if m.organization.slug == slug), None)
    if membership is None:
        raise Http404("No such organization.")
    request.session[SESSION_KEY] = membership.organization_id
    target = request.POST.get("next") or reverse("home")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("home")
    return redirect(target)


@organization_required()
def organization_detail(request):
    organization: Organization = request.organization
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.add_member(
                actor=request.user,
                organization=organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except (NotFound, PermissionDenied) as error:
            raise_for_http(error)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Member added.")
            return redirect("accounts:organization")
    return render(
        request,
        "accounts/organization.html",
        {
            "organization": organization,
            "members": selectors.members(organization=organization),
            "form": form,
        },
    )


@organization_required()
def api_keys(request):
    organization = request.organization
    if not request.membership.is_owner:
        raise DjangoPermissionDenied("Only owners manage API keys.")
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            api_key, raw_key = services.create_api_key(
                actor=request.user,
                organization=organization,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            # Shown once, on the next page, then gone: only its hash is stored.
            request.session[NEW_KEY_SESSION_KEY] = {"id": api_key.pk, "key": raw_key}
            return redirect("accounts:api-keys")
    new_key = request.session.pop(NEW_KEY_SESSION_KEY, None)
    return render(
        request,
        "accounts/api_keys.html",
        {
            "form": form,
            "api_keys": selectors.api_keys(organization=organization),
            "new_key": new_key,
            "calls": selectors.recent_api_key_calls(organization=organization),
        },
    )


@organization_required()
@require_POST
def api_key_revoke(request, key_id: str):
    try:
        api_key = services.revoke_api_key(
            actor=request.user, organization=request.organization, key_id=key_id
        )
    except DomainError as error:
        raise_for_http(error)
        raise
    messages.success(request, f"The key {api_key.prefix}… is revoked. Requests using it now fail.")
    return redirect("accounts:api-keys")


# --- Notifications ----------------------------------------------------------------------


@login_required
def notifications(request):
    items = list(selectors.notifications_of(user=request.user)[:100])
    return render(request, "accounts/notifications.html", {"notifications": items})


@login_required
@require_POST
def notifications_read(request):
    """Mark one notification read (`id`) or all of them; then back to the list or its link."""
    notification_id = request.POST.get("id")
    services.mark_notifications_read(
        user=request.user, notification_ids=[notification_id] if notification_id else None
    )
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect("notifications")


NEW_WEBHOOK_SECRET_SESSION_KEY = "new_webhook_secret"  # noqa: S105 - a session key name


def _owned_endpoint(request, endpoint_id: str):
    if not request.membership.is_owner:
        raise DjangoPermissionDenied("Only owners manage webhooks.")
    endpoint = selectors.webhook_endpoint(
        organization=request.organization, endpoint_id=endpoint_id
    )
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


@organization_required()
def webhook_endpoints(request):
    if not request.membership.is_owner:
        raise DjangoPermissionDenied("Only owners manage webhooks.")
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = webhooks.create_webhook_endpoint(
                actor=request.user,
                organization=request.organization,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            request.session[NEW_WEBHOOK_SECRET_SESSION_KEY] = {"id": endpoint.pk, "secret": secret}
            return redirect("accounts:webhook-endpoint", endpoint_id=endpoint.pk)
    return render(
        request,
        "accounts/webhook_endpoints.html",
        {
            "form": form,
            "endpoints": selectors.webhook_endpoints(organization=request.organization),
        },
    )


@organization_required()
def webhook_endpoint(request, endpoint_id: str):
    endpoint = _owned_endpoint(request, endpoint_id)
    new_secret = request.session.pop(NEW_WEBHOOK_SECRET_SESSION_KEY, None)
    if new_secret and new_secret["id"] != endpoint.pk:
        new_secret = None
    return render(
        request,
        "accounts/webhook_endpoint.html",
        {
            "endpoint": endpoint,
            "new_secret": new_secret,
            "deliveries": selectors.webhook_deliveries(endpoint=endpoint)[:50],
        },
    )


@organization_required()
@require_POST
def webhook_endpoint_action(request, endpoint_id: str, verb: str):
    endpoint = _owned_endpoint(request, endpoint_id)
    try:
        if verb == "ping":
            delivery = webhooks.ping_webhook_endpoint(actor=request.user, endpoint=endpoint)
            messages.info(request, f"Ping {delivery.status}.")
        elif verb == "rotate":
            _, secret = webhooks.rotate_webhook_secret(actor=request.user, endpoint=endpoint)
            request.session[NEW_WEBHOOK_SECRET_SESSION_KEY] = {"id": endpoint.pk, "secret": secret}
        elif verb in ("enable", "disable"):
            webhooks.update_webhook_endpoint(
                actor=request.user, endpoint=endpoint, changes={"enabled": verb == "enable"}
            )
        elif verb == "delete":
            webhooks.delete_webhook_endpoint(actor=request.user, endpoint=endpoint)
            messages.success(request, "The endpoint is deleted.")
            return redirect("accounts:webhook-endpoints")
        else:
            raise Http404("No such action.")
    except DomainError as error:
        raise_for_http(error)
        messages.error(request, error.message)
    return redirect("accounts:webhook-endpoint", endpoint_id=endpoint.pk)


@organization_required()
@require_POST
def webhook_redeliver(request, endpoint_id: str, delivery_id: str):
    endpoint = _owned_endpoint(request, endpoint_id)
    delivery = selectors.webhook_deliveries(endpoint=endpoint).filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404("No such delivery.")
    webhooks.redeliver(actor=request.user, delivery=delivery)
    messages.success(request, "Sent again; the new delivery is at the top of the log.")
    return redirect("accounts:webhook-endpoint", endpoint_id=endpoint.pk)

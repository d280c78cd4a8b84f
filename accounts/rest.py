"""REST plumbing shared by every app's API: API-key authentication, scopes, organization
scoping, pagination and RFC 9457 problem details."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from accounts.errors import DomainError
from accounts.models import ApiKey, Organization
from accounts.services import authenticate_api_key

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>`. The request acts as the key's creator, for its organization."""

    keyword = "Api-Key"

    def authenticate(self, request):
        header = get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        keyword, _, raw_key = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        if not raw_key.strip():
            raise exceptions.AuthenticationFailed("The Api-Key header carries no key.")
        api_key = authenticate_api_key(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(
                "This API key is not valid, has expired or was revoked."
            )
        return api_key.created_by, api_key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.rest.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`; create keys in the portal or with `manage.py create_api_key`.",
        }


def request_organization(request) -> Organization | None:
    """The organization a request acts for: the API key's, or the session's current one."""
    if isinstance(request.auth, ApiKey):
        return request.auth.organization
    return getattr(request._request, "organization", None)


class HasScope(BasePermission):
    """Checks `view.required_scopes`, a dict of HTTP method (or "*") to scope, for API keys.

    A view that declares no scope for the method admits only keys with every scope (`*`), so a
    forgotten declaration fails closed. Session users act through the portal, where their role
    decides; scopes narrow keys only.
    """

    def has_permission(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return True
        required = getattr(view, "required_scopes", {})
        scope = required.get(request.method) or required.get("*") or ApiKey.Scope.ALL.value
        if not request.auth.has_scope(scope):
            self.message = f"This API key lacks the scope {scope!r}."
            return False
        return True


class HasOrganization(BasePermission):
    message = "Choose an organization first: this action acts on behalf of one."

    def has_permission(self, request, view):
        return request_organization(request) is not None


class PagePagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100


def problem_response(
    *, status_code: int, title: str, detail: str, code: str, errors=None, headers=None
):
    body = {
        "type": f"urn:wellspring:problem:{code}",
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)


_TITLES = {
    400: "The request is not valid",
    401: "Authentication required",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    503: "Service unavailable",
}


def _first_message(data) -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            message = _first_message(value)
            if message:
                return message if key in ("detail", "non_field_errors") else f"{key}: {message}"
    if isinstance(data, list) and data:
        return _first_message(data[0])
    return str(data) if data else ""


def problem_exception_handler(exc, context):
    """One error format for the whole API: RFC 9457 problem details."""
    # Imported here: DRF loads this module while rest_framework.views is still initializing.
    from rest_framework.views import exception_handler

    if isinstance(exc, DomainError):
        headers = (
            {"Retry-After": "2"} if exc.status == status.HTTP_503_SERVICE_UNAVAILABLE else None
        )
        return problem_response(
            status_code=exc.status,
            title=exc.title,
            detail=exc.message,
            code=exc.code,
            errors=exc.errors,
            headers=headers,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    code = "error"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = (
            codes
            if isinstance(codes, str)
            else ("invalid" if isinstance(exc, exceptions.ValidationError) else exc.default_code)
        )
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        detail = _first_message(response.data) or "The request is not valid."
    else:
        detail = _first_message(response.data)
    headers = {
        key: value
        for key, value in response.items()
        if key in ("WWW-Authenticate", "Retry-After", "Allow")
    }
    return problem_response(
        status_code=response.status_code,
        title=_TITLES.get(response.status_code, "Error"),
        detail=detail,
        code=code,
        errors=errors,
        headers=headers,
    )


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "example": "urn:wellspring:problem:not_found"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "description": "Stable, for programs to branch on."},
        "errors": {
            "type": "object",
            "description": "Field problems: field name to a list of messages.",
            "additionalProperties": True,
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

_COMMON_PROBLEMS = {
    "401": "No valid API key or session.",
    "403": "The key lacks the operation's scope, or the role does not allow it.",
    "429": "Rate limit exceeded; see `Retry-After` and the `RateLimit-*` headers.",
}


def add_problem_responses(result, generator, request, public):
    """Schema postprocessing hook: every operation documents its problem-JSON errors.

    Adds a `Problem` component, gives every 4xx/5xx response that lacks content that schema as
    `application/problem+json`, and documents 401, 403 and 429 (which any operation can answer)
    where a view left them out, and 404 on paths with an id.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in result.get("paths", {}).items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            is_public = {} in operation.get("security", [])
            extra = dict(_COMMON_PROBLEMS)
            if is_public:
                del extra["401"], extra["403"]
            if "{" in path:
                extra["404"] = "No such object, or it belongs to another organization."
            for code, description in extra.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45" and not response.get("content"):
                    response["content"] = content
    return result

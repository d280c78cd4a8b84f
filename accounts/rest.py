"""REST plumbing shared by every app's API: API-key authentication, scopes, organization
scoping, pagination and RFC 9457 problem details."""

import logging
import re

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.utils import html

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


# --- Text fields --------------------------------------------------------------------------
# Text may not carry control characters other than tab, line feed and carriage return, nor be
# longer than its `max_length` as sent; DRF then trims leading and trailing whitespace
# (Python's, which within the allowed characters is exactly the set below) and checks the
# trimmed length. The schema states this as `maxLength` and a pattern, so a string it allows is
# a string the API accepts.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACE = r"[\t\n\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_CHARACTER = r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
_VISIBLE = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# Fields with a syntax of their own keep their own pattern or format.
_OWN_SYNTAX = (
    serializers.EmailField,
    serializers.URLField,
    serializers.SlugField,
    serializers.RegexField,
    serializers.UUIDField,
    serializers.IPAddressField,
)


def trimmed_text_pattern(
    *, min_length: int | None, max_length: int | None, allow_blank: bool
) -> str:
    """An ECMA-262 pattern for text without control characters whose trimmed length lies in
    [min_length, max_length] (at least 1 unless blank is allowed), around any whitespace."""
    low = max(min_length or 0, 0 if allow_blank else 1)
    if max_length is not None and max_length < 2:
        core = _VISIBLE if max_length == 1 else ""
    elif low <= 1:
        middle = f"{_CHARACTER}{{0,{max_length - 2}}}" if max_length else f"{_CHARACTER}*"
        core = f"{_VISIBLE}(?:{middle}{_VISIBLE})?"
    else:
        upper = "" if max_length is None else str(max_length - 2)
        core = f"{_VISIBLE}{_CHARACTER}{{{low - 2},{upper}}}{_VISIBLE}"
    if low == 0 and core:
        core = f"(?:{core})?"
    return f"^{_SPACE}*{core}{_SPACE}*$"


def is_plain_text(field) -> bool:
    return (
        isinstance(field, serializers.CharField)
        and not isinstance(field, _OWN_SYNTAX)
        and field.trim_whitespace
    )


def _text_error(field, value) -> list | None:
    """Control characters, and a length past `max_length` before trimming (the schema's
    `maxLength` counts what was sent; DRF would count the trimmed text)."""
    if not (isinstance(value, str) and is_plain_text(field)):
        return None
    if CONTROL_CHARACTERS.search(value):
        return ["Control characters are not allowed (tab and line breaks are)."]
    if field.max_length is not None and len(value) > field.max_length:
        return [f"Ensure this field has no more than {field.max_length} characters."]
    return None


def _json_type_errors(field, value) -> list | dict | None:
    """What is wrong with the JSON type of `value` for `field`, or None. DRF coerces (`1` to
    "1" for a string, "5" to 5 for an integer, 0 to False for a boolean); the schema promises
    types, so a JSON body must send them."""
    if value is None or isinstance(field, serializers.FileField):
        return None  # nulls are the field's own business (allow_null)
    if isinstance(field, serializers.BooleanField):
        return None if isinstance(value, bool) else ["Must be true or false."]
    if isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else ["Must be a whole number."]
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else ["Must be a number."]
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        if not isinstance(value, list):
            return ["Must be a list."]
        child = field.child
        errors = {index: _json_type_errors(child, item) for index, item in enumerate(value)}
        errors = {index: error for index, error in errors.items() if error}
        return errors or None
    if isinstance(field, serializers.DictField):
        if not isinstance(value, dict):
            return ["Must be an object."]
        errors = {key: _json_type_errors(field.child, item) for key, item in value.items()}
        errors = {key: error for key, error in errors.items() if error}
        return errors or None
    if isinstance(field, serializers.Serializer):
        if not isinstance(value, dict):
            return ["Must be an object."]
        return _json_field_errors(field, value) or None
    if isinstance(field, serializers.JSONField):
        return None
    if isinstance(field, serializers.CharField | serializers.ChoiceField):
        if not isinstance(value, str):
            return ["Must be a string."]
        return _text_error(field, value)
    if isinstance(field, serializers.DateField | serializers.DateTimeField):
        return None if isinstance(value, str) else ["Must be a string."]
    return None


def _json_field_errors(serializer, data: dict) -> dict:
    errors = {}
    for field in serializer.fields.values():
        if not field.read_only and field.field_name in data:
            error = _json_type_errors(field, data[field.field_name])
            if error:
                errors[field.field_name] = error
    return errors


def _text_field_errors(serializer, data) -> dict:
    """In a query string or a multipart form, a boolean is the word true or false, in any case
    (DRF also takes 1, yes, on...), and text has no control characters."""
    errors = {}
    for name, field in serializer.fields.items():
        if name not in data:
            continue
        value = data.get(name)
        if isinstance(field, serializers.BooleanField):
            if str(value).lower() not in ("true", "false"):
                errors[name] = ["Must be true or false."]
        elif error := _text_error(field, value):
            errors[name] = error
    return errors


class InputSerializer(serializers.Serializer):
    """Base of the API's input serializers: values must have the type the schema documents.

    A JSON body is checked before DRF's own validation (which would coerce), nested serializers
    and lists included; a query string or form gets DRF's parsing, with booleans spelt true or
    false (any case). Problems answer 400 with `errors` like any field problem.
    """

    def to_internal_value(self, data):
        if html.is_html_input(data):
            errors = _text_field_errors(self, data)
        elif isinstance(data, dict):
            errors = _json_field_errors(self, data)
        else:
            errors = {}
        if errors:
            raise exceptions.ValidationError(errors)
        return super().to_internal_value(data)


def document_rules(**keywords):
    """Class decorator: add JSON Schema keywords (`anyOf`, `oneOf`...) to a serializer's schema
    component, stating the rules its `validate()` enforces across fields, so that the schema
    promises only requests that are accepted."""

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema.update(keywords)
        return schema

    def decorate(serializer_class):
        # Defining the subclass registers it with drf-spectacular.
        type(
            f"{serializer_class.__name__}Rules",
            (OpenApiSerializerExtension,),
            {"target_class": serializer_class, "map_serializer": map_serializer},
        )
        return serializer_class

    return decorate


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


_WHOLE_NUMBER = re.compile(r"[0-9]+")
# Beyond any page or page size, and short enough for int() (which refuses 4,300 digits).
_HUGE = 10**18


def _page_number_parameter(request, name: str) -> int | None:
    """A query parameter that must be a whole number from 1, or a 400 that names it."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    digits = raw.lstrip("0")
    if not _WHOLE_NUMBER.fullmatch(raw) or not digits:
        raise exceptions.ValidationError({name: ["A whole number from 1 is expected."]})
    return int(digits) if len(digits) < 19 else _HUGE


class StrictPageSizeMixin:
    """`page_size` is a whole number from 1 (a 400 otherwise, where DRF silently used the
    default); values above `max_page_size` are capped, as the schema says."""

    def get_page_size(self, request):
        requested = _page_number_parameter(request, self.page_size_query_param)
        if requested is None:
            return self.page_size
        return min(requested, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page, from 1; at most {self.max_page_size} are returned."
                )
        return parameters


class PagePagination(StrictPageSizeMixin, PageNumberPagination):
    """Numbered pages. A `page` that is not a whole number from 1 is a 400; a page past the
    last is a 404, as DRF answers it."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param)
        if raw in self.last_page_strings:
            return raw
        number = _page_number_parameter(request, self.page_query_param)
        return 1 if number is None else number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


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


_PAGE_PARAMETERS = {("query", "page"), ("query", "cursor"), ("query", "page_size")}

_IDEMPOTENCY_PROBLEMS = {
    "400": "The request is not valid, or its `Idempotency-Key` is blank or too long.",
    "409": "A conflict with the current state, or a request with this `Idempotency-Key` is "
    "still being processed.",
    "422": "This `Idempotency-Key` was already used for a different request.",
}


def _require_bodies_that_need_content(result, components) -> None:
    """A body whose schema requires a field (or one of several, `document_rules`) cannot be
    left out: drf-spectacular marks only the first kind as required."""
    for item in result.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body or body.get("required"):
                continue
            for media in body.get("content", {}).values():
                schema = media.get("schema", {})
                ref = schema.get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    schema = components.get(ref.rsplit("/", 1)[1], {})
                if schema.get("required") or schema.get("anyOf") or schema.get("oneOf"):
                    body["required"] = True


def add_problem_responses(result, generator, request, public):
    """Schema postprocessing hook: every operation documents its problem-JSON errors.

    Adds a `Problem` component, gives every 4xx/5xx response that lacks content that schema as
    `application/problem+json`, and documents 401, 403 and 429 (which any operation can answer)
    where a view left them out, 404 on paths with an id, 400 and 404 on paginated lists (a bad
    page number, a page past the last) and 400, 409 and 422 where `Idempotency-Key` is honoured.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    _require_bodies_that_need_content(result, components)
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
            parameters = {
                (parameter.get("in"), parameter.get("name"))
                for parameter in operation.get("parameters", [])
            }
            if parameters & _PAGE_PARAMETERS:
                extra.setdefault("400", "`page` or `page_size` is not a whole number from 1.")
                extra.setdefault("404", "No such page: past the last one, or an unknown cursor.")
            if ("header", "Idempotency-Key") in parameters:
                extra.update(_IDEMPOTENCY_PROBLEMS)
            for code, description in extra.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45" and not response.get("content"):
                    response["content"] = content
    return result

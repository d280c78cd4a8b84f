from accounts.models import ApiKey
from accounts.selectors import memberships_for_user
from accounts.services import record_api_key_call

SESSION_KEY = "organization_id"


class CurrentOrganizationMiddleware:
    """Sets `request.organization` and `request.membership` from the organization switcher.

    The session remembers the chosen organization; a user who left it, or never chose, acts for
    their first organization. Anonymous users and users without an organization get None.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.organization = None
        request.membership = None
        request.memberships = []
        if request.user.is_authenticated:
            memberships = list(memberships_for_user(user=request.user))
            chosen = request.session.get(SESSION_KEY)
            current = next((m for m in memberships if m.organization_id == chosen), None)
            current = current or (memberships[0] if memberships else None)
            request.memberships = memberships
            if current is not None:
                request.membership = current
                request.organization = current.organization
        return self.get_response(request)


class ApiKeyCallMiddleware:
    """For requests made with an API key: add the rate-limit headers and log the call.

    DRF authenticates inside the view, so this looks at the request after the response is made.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        api_key = getattr(request, "auth", None)
        if isinstance(api_key, ApiKey):
            state = getattr(request, "rate_limit", None)
            if state is not None:
                for header, value in state.headers.items():
                    response[header] = value
            record_api_key_call(
                api_key=api_key,
                method=request.method,
                path=request.path,
                status=response.status_code,
            )
        return response

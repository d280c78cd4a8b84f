from django.http import JsonResponse
from django.views.decorators.http import require_GET

from provenance.signing import jwks


@require_GET
def jwks_view(request):
    """The platform's public signing keys, so manifests and certificates can be verified offline."""
    response = JsonResponse(jwks())
    response["Cache-Control"] = "public, max-age=3600"
    response["Access-Control-Allow-Origin"] = "*"
    return response

"""Stripe's webhook endpoint: verify, store once, hand off to a task, answer at once."""

from functools import partial

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.errors import InvalidInput
from marketplace.services import receive_stripe_event
from marketplace.tasks import process_stripe_event_task


@csrf_exempt
@require_POST
def stripe_webhook(request):
    try:
        event, needs_processing = receive_stripe_event(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except InvalidInput as error:
        return JsonResponse({"error": error.message}, status=400)
    if needs_processing:
        transaction.on_commit(partial(process_stripe_event_task.delay, event_id=event.pk))
    return JsonResponse({"received": event.pk})

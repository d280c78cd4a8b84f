from accounts.selectors import unread_notification_count


def organizations(request):
    return {
        "current_organization": getattr(request, "organization", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": getattr(request, "memberships", []),
    }


def notifications(request):
    """The unread count shown beside the bell in the navigation (one COUNT, logged in only)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notification_count": 0}
    return {"unread_notification_count": unread_notification_count(user=user)}

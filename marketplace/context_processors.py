from marketplace.selectors import coordinated_centres, requester_organizations


def roles(request):
    """Which areas the navigation offers. Lazy, so pages that do not show the menu
    pay no queries."""
    user = request.user

    def compute():
        if not user.is_authenticated:
            return {}
        return {
            # Anyone who is not staff and belongs to no organization is a (would-be) worker.
            "worker": hasattr(user, "worker_profile")
            or not (user.is_staff or user.memberships.exists()),
            "requester": requester_organizations(user).exists(),
            "centres": list(coordinated_centres(user)),
            "staff": user.is_staff,
        }

    return {"roles": compute}

from .permissions import best_role, role_for
from .registry import areas


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    role = best_role(user)
    unread = user.notifications.filter(read_at__isnull=True).count()
    return {
        "nav_areas": [a for a in areas() if not a.admin_only or role == "admin"],
        "user_role": role,
        "global_role": role_for(user),
        "unread_notifications": unread,
    }

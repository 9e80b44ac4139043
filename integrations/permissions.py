"""Who may do what outside the model admins: one place for the permissions custom views check.

Credentials (entering them, or obtaining them through an OAuth connect/callback of any connector: TikTok
today, Katana and Acumatica next) belong to Integration admins: the permission is the one that lets a user
change an Integration and its write-only credentials in the admin, `integrations.change_integration`."""
from __future__ import annotations

from functools import wraps

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied

CREDENTIALS_PERM = "integrations.change_integration"
RUN_FLOW_PERM = "integrations.run_flow"


def can_manage_credentials(user) -> bool:
    return bool(user and user.is_active and user.is_staff and user.has_perm(CREDENTIALS_PERM))


def credentials_required(view):
    """Staff login (else the admin login page), then the credentials permission (else 403)."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not can_manage_credentials(request.user):
            raise PermissionDenied("Connecting an integration needs the permission to change its credentials.")
        return view(request, *args, **kwargs)

    return staff_member_required(wrapped)

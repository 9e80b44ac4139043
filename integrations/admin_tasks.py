"""django-q2's admin, replaced: task schedules and task results are read-only for staff.

A Schedule names any importable function and the worker runs it with the process's secrets, so adding,
changing, deleting or resubmitting one is reserved to superusers whatever permissions a user holds, and the
hub's own schedules (integrations/schedules.py, kept in step by `bootstrap`/`setup_schedules`) cannot be
changed or deleted through the admin at all."""
from __future__ import annotations

from django.contrib import admin
from django_q import admin as q_admin
from django_q.models import Failure, OrmQ, Schedule, Success

from integrations.schedules import all_schedules


def _managed_names() -> set[str]:
    return {item["name"] for item in all_schedules()}


class SuperuserWritesMixin:
    """Viewing follows the model's view permission; every write needs a superuser."""

    def has_add_permission(self, request, *args) -> bool:
        return request.user.is_active and request.user.is_superuser and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_actions(self, request):
        return super().get_actions(request) if request.user.is_superuser else {}


class ScheduleAdmin(SuperuserWritesMixin, q_admin.ScheduleAdmin):
    def _managed(self, obj) -> bool:
        return obj is not None and obj.name in _managed_names()

    def has_change_permission(self, request, obj=None) -> bool:
        return not self._managed(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return not self._managed(obj) and super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset.exclude(name__in=_managed_names()))


class SuccessAdmin(SuperuserWritesMixin, q_admin.TaskAdmin):
    pass


class FailureAdmin(SuperuserWritesMixin, q_admin.FailAdmin):
    pass


class QueueAdmin(SuperuserWritesMixin, q_admin.QueueAdmin):
    pass


for model, model_admin in ((Schedule, ScheduleAdmin), (Success, SuccessAdmin), (Failure, FailureAdmin),
                           (OrmQ, QueueAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
        admin.site.register(model, model_admin)

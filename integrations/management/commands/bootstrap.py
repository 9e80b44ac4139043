"""Idempotent set-up: permission groups, schedules, a local admin user, and the sandbox demo."""
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from integrations import bootstrap


class Command(BaseCommand):
    help = "Create permission groups, the dispatcher schedule, a local admin user (local mode) and the demo data."

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="Seed the sandbox demo (local mode only).")

    def handle(self, *args, demo=False, **options):
        bootstrap.groups_ensure()
        call_command("setup_schedules", verbosity=0)
        if settings.DEBUG:
            username, password = bootstrap.local_admin_ensure()
            self.stdout.write(self.style.SUCCESS(
                f"Switchyard back office: {settings.SITE_URL}/  — log in as {username} / {password}"))
        if demo:
            message = bootstrap.demo_seed()
            if message:
                self.stdout.write(message)

"""Upsert the django-q2 schedules by name (schedule() raises on duplicates)."""
from django.core.management.base import BaseCommand

from integrations import schedules


class Command(BaseCommand):
    help = "Create or update the periodic schedules (idempotent)."

    def handle(self, *args, **options):
        for name in schedules.schedules_ensure():
            self.stdout.write(f"schedule {name}: ok")

"""Release held orders whose hold ended, and route them (what the every-minute schedule does)."""
from django.core.management.base import BaseCommand

from orders.services import orders_release_due


class Command(BaseCommand):
    help = "Release held orders whose hold ended and route them."

    def handle(self, *args, **options):
        self.stdout.write(f"{orders_release_due()} order(s) released")

"""Retry routing of orders that failed or wait for inventory (what the 5-minute schedule does)."""
from django.core.management.base import BaseCommand

from orders.services import orders_retry_routing


class Command(BaseCommand):
    help = "Retry routing of failed / pending-inventory orders whose retry time came."

    def handle(self, *args, **options):
        self.stdout.write(f"{orders_retry_routing()} order(s) routed")

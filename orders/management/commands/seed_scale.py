"""Append scale data for the admin benchmark: `manage.py seed_scale --orders 1000000` (see orders/seeding.py)."""
from django.core.management.base import BaseCommand

from orders.seeding import seed_scale


class Command(BaseCommand):
    help = "Append N orders (with lines and events), open exceptions and sync runs to measure the admin at scale."

    def add_arguments(self, parser):
        parser.add_argument("--orders", type=int, required=True)
        parser.add_argument("--shops", type=int, default=5)
        parser.add_argument("--exceptions", type=int, default=5000)
        parser.add_argument("--runs", type=int, default=20000)

    def handle(self, *args, **options):
        if options["orders"] <= 0:
            self.stderr.write("--orders must be a positive number")
            raise SystemExit(2)
        seed_scale(orders=options["orders"], shops=options["shops"], exceptions=options["exceptions"], runs=options["runs"],
                   log=lambda line: self.stdout.write(line))

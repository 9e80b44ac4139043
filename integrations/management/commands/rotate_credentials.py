"""Re-encrypt every integration's credentials under the first FIELD_ENCRYPTION_KEYS key."""
from django.core.management.base import BaseCommand, CommandError

from integrations import services
from integrations.crypto import DecryptionError


class Command(BaseCommand):
    help = "Re-encrypt stored credentials under the first key of FIELD_ENCRYPTION_KEYS (then the old keys can be dropped)."

    def handle(self, *args, **options):
        try:
            count = services.integrations_rotate_credentials()
        except DecryptionError as exc:
            raise CommandError(f"{exc} Nothing was changed.") from None
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted the credentials of {count} integration(s) under the first key."))

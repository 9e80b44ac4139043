"""`make soak`: the live soak test (see integrations/sandbox/soak.py and README "Soak test")."""
import os

from django.core.management.base import BaseCommand, CommandError

from integrations.sandbox import soak


class Command(BaseCommand):
    help = ("Soak test on PostgreSQL + Redis: recreate the soak database, run the sandbox with a web server and "
            "SOAK_WORKERS qcluster workers under SOAK_MINUTES of traffic, wait until idle, check; non-zero exit on any failure.")

    def handle(self, *args, **options):
        try:
            results = soak.run(soak.SoakConfig.from_env(dict(os.environ)), say=self.stdout.write)
        except soak.SoakError as exc:
            raise CommandError(f"soak: {exc}") from exc
        except KeyboardInterrupt:
            raise CommandError("soak: interrupted (children stopped)") from None
        for result in results:
            self.stdout.write(result.render())
        failed = [r.name for r in results if not r.ok]
        if failed:
            raise CommandError(f"soak: {len(failed)} of {len(results)} checks failed: {'; '.join(failed)}")
        self.stdout.write(self.style.SUCCESS(f"soak: all {len(results)} checks passed"))

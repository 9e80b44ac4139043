"""`make run`: migrate, bootstrap, then run the django-q2 worker and the web server together."""
import os
import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the back office with its sync worker on the embedded default (migrate, bootstrap, worker, server)."

    def add_arguments(self, parser):
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--no-demo", action="store_true", help="Do not seed the sandbox demo.")

    def handle(self, *args, addrport, no_demo, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("bootstrap", demo=settings.SANDBOX_ENABLED and not no_demo)
        env = {**os.environ, "SITE_URL": os.environ.get("SITE_URL", f"http://{addrport}")}
        worker = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env)
        self.stdout.write(self.style.SUCCESS(f"Sync worker started (pid {worker.pid})."))
        try:
            subprocess.call([sys.executable, "manage.py", "runserver", addrport, "--noreload"], env=env)
        except KeyboardInterrupt:
            pass
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()

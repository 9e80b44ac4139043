"""manage.py export_config <integration> [--format json|csv] [-o FILE]"""
from django.core.management.base import BaseCommand, CommandError

from integrations import configuration
from integrations.models import Integration


class Command(BaseCommand):
    help = ("Export an integration's configuration (portable settings, mappings, rules, flow schedules, "
            "location links) as JSON or CSV. Credentials, cursors and remote ids are never exported.")

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Integration name")
        parser.add_argument("--format", choices=[configuration.JSON, configuration.CSV], default=configuration.JSON)
        parser.add_argument("-o", "--output", metavar="FILE", help="Write to FILE instead of standard output")

    def handle(self, *args, **options):
        try:
            integration = Integration.objects.get(name=options["integration"])
        except Integration.DoesNotExist:
            raise CommandError(f"no integration named {options['integration']!r}") from None
        content = configuration.configuration_export(integration=integration, fmt=options["format"])
        if options["output"]:
            with open(options["output"], "wb") as fh:
                fh.write(content)
            self.stderr.write(f"wrote {options['output']}")
        else:
            self.stdout.write(content.decode(), ending="")

"""manage.py import_config <integration-or-new-name> FILE [--dry-run] [--connector CODE]"""
import json

from django.core.management.base import BaseCommand, CommandError

from integrations import configuration
from integrations.models import Integration


class Command(BaseCommand):
    help = ("Import a configuration file into an integration of the same connector kind, or create a new "
            "integration with that name. The whole file is validated first; on any error nothing changes.")

    def add_arguments(self, parser):
        parser.add_argument("integration", help="Existing integration name, or the name of a new one")
        parser.add_argument("file", help="Configuration file (.json or .csv)")
        parser.add_argument("--dry-run", action="store_true", help="Validate and show the difference; change nothing")
        parser.add_argument("--connector", help="Connector code when creating a new integration (must match the file)")
        parser.add_argument("--mappings", choices=("replace", "merge"), default="replace",
                            help="replace (default): the target ends with exactly the file's mappings; merge: keep the "
                                 "target's mappings the file does not name (e.g. region-specific carriers)")

    def handle(self, *args, **options):
        try:
            with open(options["file"], "rb") as fh:
                content = fh.read()
        except OSError as exc:
            raise CommandError(f"cannot read {options['file']}: {exc.strerror}") from None
        fmt = configuration.CSV if options["file"].lower().endswith(".csv") else None
        target = Integration.objects.filter(name=options["integration"]).first()
        try:
            integration, plan = configuration.configuration_import(
                content=content, target=target, new_name="" if target else options["integration"],
                connector=options["connector"], fmt=fmt, dry_run=options["dry_run"], mappings_mode=options["mappings"])
        except configuration.ConfigurationInvalid as exc:
            raise CommandError("invalid configuration file, nothing changed:\n" +
                               "\n".join(f"  {where}: {why}" for where, why in exc.errors)) from None
        for notice in plan.notices:
            self.stderr.write(f"note: {notice}")
        verb = "would change" if options["dry_run"] else "changed"
        if not plan.has_changes and target is not None:
            self.stdout.write("no change: the configuration is already identical")
            return
        name = integration.name if integration else options["integration"]
        created = " (new integration)" if target is None else ""
        self.stdout.write(f"{name}{created}: {verb}:")
        self.stdout.write(json.dumps({k: v for k, v in plan.diff.items() if v}, indent=2, ensure_ascii=False, default=str))

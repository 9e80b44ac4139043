"""export_config / import_config: files, dry run, new integrations, non-zero exit with the errors."""
import json

import pytest
from django.core.management import CommandError, call_command

from integrations import configuration as cfg
from integrations import services
from integrations.models import Integration, Mapping, SettingsChange


@pytest.fixture
def us(db):
    integration = services.integration_create(name="Fake US", connector="fake", credentials={"api_key": "KEY-cmd-31337"},
                                              settings={"note": "hello", "statuses": ["a", "b"]})
    Mapping.objects.create(integration=integration, kind="carrier", source="USPS", target="US-POSTAL")
    return integration


@pytest.fixture
def uk(db):
    return services.integration_create(name="Fake UK", connector="fake")


@pytest.mark.parametrize("fmt", ["json", "csv"], ids=["json_case", "csv_case"])
def test_export_then_import_into_another_integration(us, uk, tmp_path, fmt, capsys):
    # given
    path = tmp_path / f"us.{fmt}"
    call_command("export_config", "Fake US", "--format", fmt, "-o", str(path))

    # when
    call_command("import_config", "Fake UK", str(path))

    # then
    assert b"KEY-cmd-31337" not in path.read_bytes()
    uk.refresh_from_db()
    assert cfg.configuration_snapshot(integration=uk) == cfg.configuration_snapshot(integration=us)
    assert SettingsChange.objects.get(integration=uk).source == SettingsChange.Source.IMPORT
    assert '"note": [\n      "",\n      "hello"\n    ]' in capsys.readouterr().out


def test_export_to_stdout_is_the_json_document(us, capsys):
    # when
    call_command("export_config", "Fake US")

    # then
    bundle = json.loads(capsys.readouterr().out)
    assert (bundle["connector"], bundle["settings"]["note"]) == ("fake", "hello")


def test_dry_run_prints_the_difference_and_changes_nothing(us, uk, tmp_path, capsys):
    # given
    path = tmp_path / "us.json"
    path.write_bytes(cfg.configuration_export(integration=us))

    # when
    call_command("import_config", "Fake UK", str(path), "--dry-run")

    # then
    out = capsys.readouterr().out
    assert out.startswith("Fake UK: would change:")
    assert '"source": "USPS"' in out
    uk.refresh_from_db()
    assert (uk.settings.get("note"), Mapping.objects.filter(integration=uk).exists()) == ("", False)
    assert SettingsChange.objects.filter(integration=uk).exists() is False


def test_import_creates_a_new_integration(us, tmp_path):
    # given
    path = tmp_path / "us.json"
    path.write_bytes(cfg.configuration_export(integration=us))

    # when
    call_command("import_config", "Fake DE", str(path), "--connector", "fake")

    # then
    created = Integration.objects.get(name="Fake DE")
    assert created.connector == "fake"
    assert cfg.configuration_snapshot(integration=created) == cfg.configuration_snapshot(integration=us)


def test_import_of_own_export_reports_no_change(us, tmp_path, capsys):
    # given
    path = tmp_path / "us.csv"
    call_command("export_config", "Fake US", "--format", "csv", "-o", str(path))

    # when
    call_command("import_config", "Fake US", str(path))

    # then
    assert "no change: the configuration is already identical" in capsys.readouterr().out
    assert SettingsChange.objects.filter(integration=us).exists() is False


def test_bad_file_exits_non_zero_with_every_error_and_changes_nothing(us, uk, tmp_path):
    # given
    bundle = json.loads(cfg.configuration_export(integration=us))
    bundle["settings"].update(colour="red", pull_things="yes")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bundle))

    # when
    with pytest.raises(CommandError) as exc:
        call_command("import_config", "Fake UK", str(path))

    # then
    assert str(exc.value) == ("invalid configuration file, nothing changed:\n"
                              "  settings.colour: unknown setting for connector fake\n"
                              "  settings.pull_things: expected true or false, got 'yes'")
    uk.refresh_from_db()
    assert uk.settings.get("note") == "" and Mapping.objects.filter(integration=uk).exists() is False


def test_unknown_integration_and_missing_file_fail(db, tmp_path):
    with pytest.raises(CommandError, match="no integration named 'Nope'"):
        call_command("export_config", "Nope")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_config", "Nope", str(tmp_path / "missing.json"))
    assert Integration.objects.filter(name="Nope").exists() is False


def test_malformed_csv_exits_non_zero(uk, tmp_path):
    # given
    path = tmp_path / "bad.csv"
    path.write_text("sku,name\nA,B\n")

    # when
    with pytest.raises(CommandError) as exc:
        call_command("import_config", "Fake UK", str(path))

    # then
    assert "header: not a configuration CSV: missing column(s) item, key, value" in str(exc.value)

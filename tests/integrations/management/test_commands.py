import json
from datetime import timedelta
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.utils import timezone

from integrations import crypto, services
from integrations.exceptions import TransientError
from integrations.models import FlowState, Integration, SyncRun
from tests.integrations.fake_connector import REMOTE, things_count

pytestmark = pytest.mark.django_db


def _call(*args, **kwargs) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


def test_sync_runs_the_flow_and_prints_the_summary(fake_state):
    # given
    REMOTE["pages"] = [[{"id": "a", "value": "1"}, {"id": "b"}]]
    # when
    out = _call("sync", "Fake A", "pull_things")
    # then
    run = SyncRun.objects.get()
    assert (run.trigger, run.status, run.created, run.failed) == ("command", "partial", 1, 1)
    assert "Fake A · pull_things: partial" in out
    assert "fetched 2  created 1  updated 0  unchanged 0  failed 1  api calls 1" in out
    assert 'cursor before {}  after {"page": 1}' in out
    assert "record b value: missing value" in out


def test_sync_accepts_the_integration_id(fake_state):
    REMOTE["pages"] = [[{"id": "a", "value": "1"}]]
    _call("sync", str(fake_state.integration_id), "pull_things")
    assert things_count(fake_state.integration) == 1


def test_sync_dry_run_leaves_the_database_untouched(fake_state):
    # given
    REMOTE["pages"] = [[{"id": "a", "value": "1"}], [{"id": "b", "value": "2"}]]
    # when
    out = _call("sync", "Fake A", "pull_things", "--dry-run")
    # then
    fake_state.refresh_from_db()
    assert "(dry run, rolled back)" in out
    assert things_count(fake_state.integration) == 0
    assert fake_state.cursor == {}
    assert fake_state.last_succeeded_at is None
    run = SyncRun.objects.get()
    assert (run.dry_run, run.fetched, run.created, run.cursor_after) == (True, 2, 2, {})


def test_sync_exits_non_zero_on_failure(fake_state):
    REMOTE.update(pages=[[{"id": "a", "value": "1"}]], fail_at_page=0, error=TransientError("remote 503"))
    with pytest.raises(CommandError, match="failed: TransientError: remote 503"):
        _call("sync", "Fake A", "pull_things")
    assert SyncRun.objects.get().status == "failed"


@pytest.mark.parametrize("args,message", [
    (("Nope", "pull_things"), "No integration named or numbered 'Nope'."),
    (("Fake A", "pull_nothing"), "Fake A (fake) has no flow 'pull_nothing'; its flows: pull_things."),
    (("Fake A",), "Usage: sync"),
])
def test_sync_unknown_integration_or_flow_is_a_clear_error(fake_integration, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _call("sync", *args)
    assert SyncRun.objects.count() == 0


def test_sync_all_due_runs_each_due_flow_once(fake_state):
    # given: one due flow, one not due
    other = services.integration_create(name="Fake B", connector="fake")
    FlowState.objects.filter(integration=other).update(next_run_at=timezone.now() + timedelta(hours=1))
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=timezone.now() - timedelta(seconds=1))
    REMOTE["pages"] = [[{"id": "a", "value": "1"}]]
    # when
    out = _call("sync", "--all-due")
    # then
    assert "1 due flow(s) run, 0 failed." in out
    assert list(SyncRun.objects.values_list("integration__name", "status")) == [("Fake A", "succeeded")]
    # and a second call finds nothing due
    assert "0 due flow(s) run" in _call("sync", "--all-due")


def test_flow_health_table_and_json(fake_state):
    FlowState.objects.filter(pk=fake_state.pk).update(consecutive_failures=2, last_error="remote 503")
    out = _call("flow_health")
    assert "Fake A (#%d, fake) — not_configured" % fake_state.integration_id in out
    assert "pull_things" in out and "remote 503" in out
    data = json.loads(_call("flow_health", "--json"))
    assert data[0]["integration"] == "Fake A"
    assert data[0]["flows"][0]["flow"] == "pull_things"
    assert (data[0]["flows"][0]["enabled"], data[0]["flows"][0]["failures"]) == (True, 2)


def test_flow_health_columns_line_up(fake_state, fake_integration):
    from django.utils import timezone

    FlowState.objects.create(integration=fake_integration, flow="a_much_longer_flow_name_than_the_column", enabled=False,
                             next_run_at=timezone.now(), last_succeeded_at=timezone.now())
    FlowState.objects.filter(pk=fake_state.pk).update(last_succeeded_at=timezone.now(), next_run_at=timezone.now(),
                                                      last_error="line one\nline two")
    lines = [line for line in _call("flow_health").splitlines() if line.startswith("  ") and not line.startswith("  last error")]
    header, rows = lines[0], lines[1:]
    for column in ("enabled", "last success", "failures", "next run", "last error"):
        start = header.index(column)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows if len(row) > start), (column, lines)
    assert "- (off)" in lines[1] + lines[2] and "line one line two" in "".join(rows)


def test_console_log_lines_carry_their_structured_detail():
    import logging

    from integrations.logformat import KeyValueFormatter

    record = logging.LogRecord("integrations", logging.INFO, "", 0, "flow.finished", (), None)
    record.integration, record.flow, record.status = 3, "pull_orders", "succeeded"
    record.note = "two words"
    text = KeyValueFormatter("%(levelname)s %(message)s").format(record)
    assert text == 'INFO flow.finished flow=pull_orders integration=3 note="two words" status=succeeded'


def test_rotate_credentials_re_encrypts_under_the_first_key(settings, fake_integration):
    # given: a new key first, the old one after it
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    before = Integration.objects.get().credentials_encrypted
    # when
    out = _call("rotate_credentials")
    # then: readable with the new key alone
    assert "1 integration(s)" in out
    after = Integration.objects.get().credentials_encrypted
    assert after != before
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt_json(after) == {"api_key": "k-123", "api_secret": "s3cr3t-value"}


def test_rotate_credentials_with_an_unknown_key_changes_nothing(settings, fake_integration):
    before = Integration.objects.get().credentials_encrypted
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="cannot be decrypted"):
        _call("rotate_credentials")
    assert Integration.objects.get().credentials_encrypted == before

"""Re-drive in the Exceptions admin: a skipped record is retried by a targeted run, and the exception
resolves itself once the record is applied."""
import pytest
from django.urls import reverse

from integrations import services
from integrations.models import OpsException, SyncRun
from tests.integrations.fake_connector import REMOTE, things_count

pytestmark = pytest.mark.django_db


def test_redrive_retries_a_skipped_record_and_resolves_it(admin_client, fake_state, django_capture_on_commit_callbacks):
    # given: "b" was skipped by a run
    REMOTE["pages"] = [[{"id": "a", "value": 1}, {"id": "b"}]]
    services.flow_run(flow_state=fake_state)
    exc = OpsException.objects.get(code="record_skipped")
    REMOTE["pages"] = [[{"id": "a", "value": 1}, {"id": "b", "value": 2}]]  # fixed at the source
    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:integrations_opsexception_changelist"),
                                     {"action": "action_redrive", "_selected_action": [exc.pk]}, follow=True)
    # then
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Re-drive: 1 skipped record(s) queued for a retry run; 0 exception(s) resolved. "
                        "Exceptions resolve themselves once their cause is gone."]
    exc.refresh_from_db()
    assert exc.status == "resolved" and exc.details["retried_by"] == "root"
    assert things_count(fake_state.integration) == 2
    assert SyncRun.objects.filter(trigger="retry", status="succeeded").count() == 1

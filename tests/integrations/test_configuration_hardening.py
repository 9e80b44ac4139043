"""Configuration import hardening (issue #11, Imports): interval overflow, odd JSON documents, duplicated
keys, NUL bytes — each a clear error that changes nothing — and the uploaded file kept server-side
between preview and confirm (no re-posted base64 payload)."""
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from integrations import configuration as cfg
from integrations.models import PendingUpload
from tests.integrations.test_configuration import (_json_bundle, cfg_registered, empty_target, source, staff,  # noqa: F401
                                                   state_of)

URL = "/integrations/integration/configuration/import/"


def refused(content, target, fmt=None):
    before = state_of(target)
    with pytest.raises(cfg.ConfigurationInvalid) as info:
        cfg.configuration_import(content=content, target=target, fmt=fmt)
    assert state_of(target) == before
    return " | ".join(f"{where}: {message}" for where, message in info.value.errors)


@pytest.mark.parametrize("interval", [10 ** 13, 10 ** 20, cfg.MAX_INTERVAL_SECONDS + 1])
def test_an_interval_beyond_the_limit_is_a_clear_error(source, empty_target, interval):
    bundle = json.loads(cfg.configuration_export(integration=source, fmt=cfg.JSON))
    bundle["flows"][0]["interval_seconds"] = interval
    message = refused(json.dumps(bundle).encode(), empty_target)
    assert "interval_seconds" in message and f"to {cfg.MAX_INTERVAL_SECONDS}" in message


@pytest.mark.parametrize("content, expected", [
    (b"[]", "a JSON object"), (b"[1, 2]", "a JSON object"), (b"null", "a JSON object"), (b"42", "a JSON object"),
    (b"", "the file is empty"), (b"  \n ", "the file is empty"),
])
def test_json_documents_that_are_not_objects_get_a_clear_message(empty_target, content, expected):
    message = refused(content, empty_target)
    assert expected in message and "CSV" not in message


def test_duplicated_json_keys_are_refused(source, empty_target):
    text = _json_bundle(source).decode()
    text = text.replace('"settings": {', '"settings": {"mode": "fast", ', 1)
    assert text.count('"mode"') == 2
    message = refused(text.encode(), empty_target)
    assert "'mode' appears twice" in message


@pytest.mark.parametrize("fmt", [cfg.JSON, cfg.CSV])
def test_nul_bytes_are_refused(source, empty_target, fmt):
    content = cfg.configuration_export(integration=source, fmt=fmt).decode()
    if fmt == cfg.JSON:
        content = content.replace('"GROUND"', '"GRO\\u0000UND"')
    else:
        content = content.replace("GROUND", "GRO\x00UND")
    message = refused(content.encode(), empty_target, fmt=fmt)
    assert "NUL" in message


def test_the_file_stays_server_side_between_preview_and_confirm(client, django_user_model, source, empty_target):
    user = staff(django_user_model, "view_integration", "import")
    client.force_login(user)
    content = cfg.configuration_export(integration=source, fmt=cfg.JSON)
    preview = client.post(URL, {"step": "preview", "target": empty_target.pk,
                                "file": SimpleUploadedFile("us.json", content, content_type="application/json")})
    assert preview.status_code == 200
    token = preview.context["upload"]
    assert len(token) < 100 and b'name="payload"' not in preview.content
    assert PendingUpload.objects.count() == 1
    # another user cannot confirm it
    other = staff(django_user_model, "view_integration", "import", "change_integration")
    client.force_login(other)
    stolen = client.post(URL, {"step": "confirm", "upload": token, "target": empty_target.pk, "new_name": ""})
    assert stolen.status_code == 200 and "expired" in str(stolen.context["errors"])
    assert cfg.configuration_snapshot(integration=empty_target) != cfg.configuration_snapshot(integration=source)
    # the uploader can, once
    client.force_login(user)
    done = client.post(URL, {"step": "confirm", "upload": token, "target": empty_target.pk, "new_name": ""})
    assert done.status_code == 302
    empty_target.refresh_from_db()
    assert cfg.configuration_snapshot(integration=empty_target) == cfg.configuration_snapshot(integration=source)
    assert PendingUpload.objects.count() == 0


def test_a_large_valid_file_previews_and_confirms(client, django_user_model, source, empty_target, settings):
    """The confirm step no longer re-posts the file: a file larger than DATA_UPLOAD_MAX_MEMORY_SIZE applies."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    bundle = json.loads(cfg.configuration_export(integration=source, fmt=cfg.JSON))
    bundle["omitted"] = ["x" * 100] * 300
    content = json.dumps(bundle).encode()
    assert len(content) > 4 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    client.force_login(staff(django_user_model, "view_integration", "import"))
    preview = client.post(URL, {"step": "preview", "target": empty_target.pk, "file": SimpleUploadedFile("big.json", content)})
    assert preview.status_code == 200 and not preview.context.get("errors")
    done = client.post(URL, {"step": "confirm", "upload": preview.context["upload"], "target": empty_target.pk, "new_name": ""})
    assert done.status_code == 302
    empty_target.refresh_from_db()
    assert cfg.configuration_snapshot(integration=empty_target) == cfg.configuration_snapshot(integration=source)

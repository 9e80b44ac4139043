import logging
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from integrations import crypto, services
from integrations.crypto import DecryptionError
from integrations.models import Integration
from tests.integrations.fake_connector import REMOTE

SECRET = "s3cr3t-value"


def test_round_trip_and_ciphertext_hides_the_value():
    token = crypto.encrypt_json({"api_secret": SECRET})
    assert SECRET not in token
    assert crypto.decrypt_json(token) == {"api_secret": SECRET}
    assert crypto.encrypt_json({}) == "" and crypto.decrypt_json("") == {}


def test_unknown_key_raises_decryption_error_never_the_ciphertext(settings):
    token = crypto.encrypt_json({"api_secret": SECRET})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError) as info:
        crypto.decrypt_json(token)
    assert token not in str(info.value) and SECRET not in str(info.value)


def test_garbage_token_raises_decryption_error():
    with pytest.raises(DecryptionError):
        crypto.decrypt_json("not-a-fernet-token")


def test_rotation_with_multifernet(settings):
    # given: a token under the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    token = crypto.encrypt_json({"k": "v"})
    new_key = Fernet.generate_key().decode()
    # when: the new key goes first, the old one stays for decryption
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert crypto.decrypt_json(token) == {"k": "v"}
    rotated = crypto.rotate(token)
    # then: the rotated token opens with the new key alone, the old one does not
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert crypto.decrypt_json(rotated) == {"k": "v"}
    with pytest.raises(DecryptionError):
        crypto.decrypt_json(token)


@pytest.mark.django_db
def test_database_holds_ciphertext_only_and_dumpdata_never_shows_the_secret(fake_integration):
    raw = Integration.objects.values_list("credentials_encrypted", flat=True).get()
    assert SECRET not in raw and "k-123" not in raw
    out = StringIO()
    call_command("dumpdata", "integrations", stdout=out)
    assert SECRET not in out.getvalue() and "k-123" not in out.getvalue()


@pytest.mark.django_db
def test_secrets_never_logged_during_flow_runs(fake_state, caplog):
    caplog.set_level(logging.DEBUG)
    REMOTE["pages"] = [[{"id": "a", "value": "1"}]]
    services.flow_run(flow_state=fake_state)
    services.integration_update_credentials(integration=fake_state.integration, values={"api_secret": "another-secret"})
    assert caplog.records  # the engine does log
    assert SECRET not in caplog.text and "k-123" not in caplog.text and "another-secret" not in caplog.text

import pytest

from integrations import registry, schema
from integrations.exceptions import SettingsError
from tests.integrations.fake_connector import SPEC


def _errors(data, **kwargs):
    with pytest.raises(SettingsError) as info:
        schema.validate_settings(SPEC, data, **kwargs)
    return info.value.errors


def test_defaults_fill_missing_keys():
    assert schema.validate_settings(SPEC, {"note": "hi"}) == {
        "pull_things": True, "note": "hi", "statuses": ["a"], "since": None, "skus": []}


def test_unknown_key():
    assert _errors({"nope": 1}) == {"nope": ["unknown setting for connector fake"]}


def test_wrong_type_is_not_coerced():
    assert _errors({"pull_things": "yes"}) == {"pull_things": ["expected true or false, got 'yes'"]}
    assert _errors({"skus": "A,B"}) == {"skus": ["expected a list of text values"]}


def test_option_outside_choices():
    assert _errors({"statuses": ["a", "z"]}) == {"statuses": ["not valid options: z; allowed: a, b"]}


def test_text_too_long():
    assert _errors({"note": "x" * 21}) == {"note": ["at most 20 characters (got 21)"]}


def test_bad_datetime():
    assert _errors({"since": "yesterday"}) == {"since": ["expected an ISO-8601 date and time, got 'yesterday'"]}


def test_naive_datetime_is_stored_as_utc():
    assert schema.validate_settings(SPEC, {"since": "2025-01-02T03:04:05"})["since"] == "2025-01-02T03:04:05+00:00"


def test_location_must_belong_to_the_integration():
    spec = registry.SettingSpec("loc", "Location", "General", registry.LOCATION, default="")
    connector = registry.ConnectorSpec(code="x", label="X", role=registry.CHANNEL, settings=(spec,), credentials=())
    with pytest.raises(SettingsError) as info:
        schema.validate_settings(connector, {"loc": "elsewhere"}, location_ids={"main"})
    assert info.value.errors == {"loc": ["no location 'elsewhere' for this integration"]}
    assert schema.validate_settings(connector, {"loc": "main"}, location_ids={"main"}) == {"loc": "main"}


def test_every_error_is_reported_at_once():
    assert set(_errors({"nope": 1, "note": 5, "statuses": "a"})) == {"nope", "note", "statuses"}

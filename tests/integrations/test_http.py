import email.utils
import time

import pytest
import requests

from integrations.exceptions import AuthError, PermanentError, RateLimitedError, TransientError
from integrations.http import BaseClient, CallCounter, NetworkDisabledError, parse_retry_after

BASE = "http://127.0.0.1:9999"


class Client(BaseClient):
    role = "demo"
    base_url = BASE


def test_json_answer_is_returned_and_counted(responses):
    responses.get(f"{BASE}/ok", json={"a": 1})
    counter = CallCounter()
    assert Client(counter=counter).request("GET", "/ok") == {"a": 1}
    assert counter.count == 1


def test_empty_body_returns_none(responses):
    responses.post(f"{BASE}/empty", body="", status=204)
    assert Client().request("POST", "/empty") is None


def test_429_with_retry_after_seconds(responses):
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "17"})
    with pytest.raises(RateLimitedError) as info:
        Client().request("GET", "/x")
    assert (info.value.status, info.value.retry_after) == (429, 17.0)


def test_429_with_retry_after_http_date(responses):
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": when})
    with pytest.raises(RateLimitedError) as info:
        Client().request("GET", "/x")
    assert 100 < info.value.retry_after <= 121


def test_parse_retry_after_edge_cases():
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 60) == 0.0


@pytest.mark.parametrize("status,error", [(500, TransientError), (503, TransientError), (401, AuthError),
                                          (403, AuthError), (400, PermanentError), (404, PermanentError), (422, PermanentError)])
def test_status_classification(responses, status, error):
    responses.get(f"{BASE}/x", status=status, body="nope")
    with pytest.raises(error) as info:
        Client().request("GET", "/x")
    assert info.value.status == status
    assert not isinstance(info.value, RateLimitedError)


def test_timeout_is_transient(responses):
    responses.get(f"{BASE}/x", body=requests.Timeout("slow"))
    with pytest.raises(TransientError, match="timeout"):
        Client().request("GET", "/x")


def test_connection_error_is_transient(responses):
    responses.get(f"{BASE}/x", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="cannot connect"):
        Client().request("GET", "/x")


def test_malformed_json_is_transient(responses):
    responses.get(f"{BASE}/x", body="{not json", status=200, content_type="application/json")
    with pytest.raises(TransientError, match="malformed JSON"):
        Client().request("GET", "/x")


def test_non_loopback_call_refused_without_interception():
    with pytest.raises(NetworkDisabledError):
        Client(base_url="https://example.com").request("GET", "/x")

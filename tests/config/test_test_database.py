"""The test database the live-server tests run on: each thread has its own connection (see tests/conftest.py)."""
import threading

import pytest
from django.db import connection

from integrations.models import Integration


@pytest.mark.django_db(transaction=True)
def test_live_server_thread_does_not_share_the_test_threads_connection(live_server):
    assert live_server.thread.connections_override == {}
    if connection.vendor == "sqlite":
        assert not connection.is_in_memory_db()


@pytest.mark.django_db(transaction=True)
def test_a_read_left_open_in_another_thread_does_not_fail_a_write_here(live_server):
    """What broke CI: the server thread was mid-read of a table while the test thread updated it."""
    from django.db import connections

    integration, *_ = [Integration.objects.create(name=f"Shop {n}", connector="tiktok", role="channel") for n in range(3)]
    reading, done = threading.Event(), threading.Event()

    def reader():
        cursor = connections["default"].cursor()
        cursor.execute("SELECT id FROM integrations_integration")
        cursor.fetchone()  # two rows left unread: the statement stays open, as a streamed read in a request does
        reading.set()
        done.wait(10)
        cursor.close()
        connections["default"].close()

    thread = threading.Thread(target=reader)
    thread.start()
    reading.wait(10)
    try:
        assert Integration.objects.filter(pk=integration.pk).update(last_error="paused") == 1
    finally:
        done.set()
        thread.join()
    assert Integration.objects.get(pk=integration.pk).last_error == "paused"

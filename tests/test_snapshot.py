"""tests/snapshot.py: a replayed seed leaves the database exactly as running the seed does."""
import pytest
from django.db import transaction

from integrations.sandbox.demo import demo_seed
from tests import snapshot


@pytest.fixture
def sandbox(settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True


def _rows() -> dict:
    return {table: rows for table, (_, _, rows) in snapshot._dump().items()}


def test_replaying_the_demo_seed_writes_the_same_rows_as_seeding(db, sandbox, monkeypatch):
    monkeypatch.setattr(snapshot, "_SNAPSHOTS", {})
    before = _rows()
    savepoint = transaction.savepoint()
    assert snapshot.seeded("demo", demo_seed) is False  # first use: the seed runs
    seeded = _rows()
    transaction.savepoint_rollback(savepoint)
    assert _rows() == before

    assert snapshot.seeded("demo", demo_seed) is True  # same starting state: replayed, not seeded
    assert _rows() == seeded
    assert sum(len(rows) for rows in seeded.values()) > sum(len(rows) for rows in before.values()) + 100


def test_a_different_starting_state_seeds_again(db, sandbox, monkeypatch):
    from integrations.models import Integration

    monkeypatch.setattr(snapshot, "_SNAPSHOTS", {})
    calls = []
    savepoint = transaction.savepoint()
    assert snapshot.seeded("demo", lambda: calls.append(Integration.objects.create(name="A", connector="fake"))) is False
    transaction.savepoint_rollback(savepoint)
    Integration.objects.create(name="B", connector="fake")  # the starting rows differ from the snapshot's
    assert snapshot.seeded("demo", lambda: calls.append(Integration.objects.create(name="A", connector="fake"))) is False
    assert len(calls) == 2
    assert sorted(Integration.objects.values_list("name", flat=True)) == ["A", "B"]


@pytest.mark.django_db(transaction=True)
def test_replay_in_a_transactional_test_commits_consistent_rows(sandbox, monkeypatch):
    """Autocommit (live-server and two-worker tests): rows referencing rows of a later table are still accepted."""
    from integrations.models import Integration

    monkeypatch.setattr(snapshot, "_SNAPSHOTS", {})
    base = snapshot.fingerprint()
    snapshot.seeded("demo", demo_seed)
    seeded = _rows()
    names = sorted(Integration.objects.values_list("name", flat=True))
    with transaction.atomic():  # back to the starting rows, then replay
        snapshot._restore({t: snapshot.TableChange(c.columns, c.pk_index, [r[c.pk_index] for r in c.insert_rows], [])
                           for t, c in snapshot._SNAPSHOTS["demo"].changes.items()})
    assert snapshot.fingerprint() == base
    assert snapshot.seeded("demo", demo_seed) is True
    assert _rows() == seeded
    assert sorted(Integration.objects.values_list("name", flat=True)) == names

from decimal import Decimal

import pytest
from django.urls import reverse

from finance.models import Statement, StatementTransaction
from tests.integrations.conftest import fake_integration, fake_registered  # noqa: F401  (shared fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def statements(fake_integration):
    statement = Statement.objects.create(integration=fake_integration, external_id="ST-1", settlement_amount=Decimal("12.34"))
    StatementTransaction.objects.bulk_create([
        StatementTransaction(statement=statement, integration=fake_integration, external_id=f"TX-{i}",
                             order_external_id=f"ORD-{i}", settlement_amount=Decimal("1.00"))
        for i in range(60)])
    Statement.objects.bulk_create([Statement(integration=fake_integration, external_id=f"ST-{i}") for i in range(2, 60)])
    return statement


@pytest.mark.parametrize("model", ["statement", "statementtransaction"])
def test_finance_changelists_bounded_queries(admin_client, statements, django_assert_max_num_queries, model):
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(f"admin:finance_{model}_changelist"))
    assert response.status_code == 200


def test_transactions_searchable_by_order_external_id(admin_client, statements):
    html = admin_client.get(reverse("admin:finance_statementtransaction_changelist"), {"q": "ORD-7"}).content.decode()
    assert "TX-7" in html and "TX-8" not in html


def test_statement_page_links_its_transactions(admin_client, statements):
    html = admin_client.get(reverse("admin:finance_statement_change", args=[statements.pk])).content.decode()
    assert f"?statement__id__exact={statements.pk}" in html

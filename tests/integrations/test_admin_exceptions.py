"""The exception queue: each exception links its record and says what is wrong and what fixes it; open exceptions
grouped by cause with a fix link and a Re-drive per group; bounded queries."""
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from integrations import exception_help, services
from integrations.models import Mapping, OpsException

pytestmark = pytest.mark.django_db


def _carrier_exceptions(integration, n, carrier="USPS"):
    for i in range(n):
        services.exception_raise(category="fulfillment", code="unsupported_carrier", integration=integration,
                                 cause_key=f"carrier:{carrier}", dedup_key=f"x:{carrier}:{i}", entity=integration,
                                 message=f"Carrier “{carrier}” of order O-{i} is not a TikTok shipping provider.")


def test_fix_links_from_cause_keys():
    label, url = exception_help.fix_link(code="unsupported_carrier", cause_key="carrier:USPS", integration_id=7)
    assert label == "Add mapping"
    assert url == reverse("admin:integrations_mapping_add") + "?integration=7&kind=carrier&source=USPS&_redrive_cause=carrier%3AUSPS"
    label, url = exception_help.fix_link(code="unmapped_shipping_method", cause_key="shipping_method:3:Express 2", integration_id=3)
    assert "kind=shipping_method" in url and "source=Express+2" in url and "integration=3" in url
    assert exception_help.fix_link(code="unknown_sku", cause_key="sku:AB-1", integration_id=None)[0] == "Add product"
    assert exception_help.fix_link(code="weird", cause_key="", integration_id=None) is None


def test_explain_knows_codes_and_falls_back():
    assert "Create the product" in exception_help.explain("unknown_sku")[1]
    assert exception_help.explain("tiktok_cancellation_rejected")[0] == "The remote system refused a push."
    assert exception_help.explain("never_heard_of") == exception_help.GENERIC


def test_queue_links_the_record_and_says_the_fix(admin_client, fake_integration, django_assert_num_queries):
    _carrier_exceptions(fake_integration, 30)
    with django_assert_num_queries(6):  # pinned: session, user, filters' choices, count, rows; none per row
        response = admin_client.get(reverse("admin:integrations_opsexception_changelist"))
    body = response.content.decode()
    assert reverse("admin:integrations_integration_change", args=[fake_integration.pk]) in body
    assert "Add a carrier mapping" in body and "Add mapping" in body
    assert "Content type" not in body


def test_change_page_plain_words(admin_client, fake_integration):
    _carrier_exceptions(fake_integration, 1)
    exc = OpsException.objects.get()
    body = admin_client.get(reverse("admin:integrations_opsexception_change", args=[exc.pk])).content.decode()
    assert "is not a shipping provider the channel accepts" in body and "Add mapping" in body


def test_by_cause_groups_with_counts_in_bounded_queries(admin_client, fake_integration, django_assert_max_num_queries):
    _carrier_exceptions(fake_integration, 12)
    _carrier_exceptions(fake_integration, 3, carrier="DHL")
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("admin:integrations_opsexception_by_cause"))
    groups = response.context["groups"]
    assert [(g["cause_key"], g["count"]) for g in groups] == [("carrier:USPS", 12), ("carrier:DHL", 3)]
    body = response.content.decode()
    assert "12</span> integrations blocked" in body
    assert body.count("xc-redrive") == 2


def test_by_cause_filters_by_category(admin_client, fake_integration):
    _carrier_exceptions(fake_integration, 2)
    services.exception_raise(category="ingestion", code="unknown_sku", integration=fake_integration, cause_key="sku:Z",
                             dedup_key="z", message="unknown SKU Z")
    groups = admin_client.get(reverse("admin:integrations_opsexception_by_cause"), {"category": "ingestion"}).context["groups"]
    assert [g["code"] for g in groups] == ["unknown_sku"]


def test_adding_the_mapping_from_the_group_redrives_it(admin_client, fake_integration):
    _carrier_exceptions(fake_integration, 2)
    _, url = exception_help.fix_link(code="unsupported_carrier", cause_key="carrier:USPS", integration_id=fake_integration.pk)
    form = admin_client.get(url)
    assert form.context["adminform"].form.initial["source"] == "USPS"
    response = admin_client.post(url, {"integration": fake_integration.pk, "kind": "carrier", "source": "USPS", "target": "7117",
                                       "notes": ""}, follow=True)
    assert Mapping.objects.get().target == "7117"
    assert response.redirect_chain[-1][0] == reverse("admin:integrations_opsexception_by_cause")
    assert "Re-drive:" in " ".join(str(m) for m in response.context["messages"])


def test_redrive_group_needs_change_permission(client, django_user_model, fake_integration):
    _carrier_exceptions(fake_integration, 2)
    viewer = django_user_model.objects.create_user("v", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_opsexception"))
    client.force_login(viewer)
    assert client.get(reverse("admin:integrations_opsexception_by_cause")).status_code == 200
    response = client.post(reverse("admin:integrations_opsexception_redrive_group"),
                           {"cause_key": "carrier:USPS", "code": "unsupported_carrier", "integration": fake_integration.pk})
    assert response.status_code == 403


def test_redrive_group_selects_only_its_group(fake_integration):
    from integrations.selectors import exception_group_members

    _carrier_exceptions(fake_integration, 2)
    _carrier_exceptions(fake_integration, 1, carrier="DHL")
    members = exception_group_members(cause_key="carrier:USPS", code="unsupported_carrier", integration_id=str(fake_integration.pk))
    assert members.count() == 2


def test_only_superusers_delete_exceptions(client, django_user_model, admin_client, fake_integration):
    _carrier_exceptions(fake_integration, 1)
    exc = OpsException.objects.get()
    staff = django_user_model.objects.create_user("s", password="pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_opsexception", "change_opsexception", "delete_opsexception"]))
    client.force_login(staff)
    assert client.get(reverse("admin:integrations_opsexception_delete", args=[exc.pk])).status_code == 403
    assert admin_client.get(reverse("admin:integrations_opsexception_delete", args=[exc.pk])).status_code == 200


def test_mapping_form_validates_with_clear_messages(admin_client, fake_integration):
    from integrations.forms import MappingForm

    form = MappingForm(data={"integration": fake_integration.pk, "kind": "sku", "source": "  ", "target": "NOPE", "notes": ""})
    assert not form.is_valid()
    assert "The source cannot be blank." in form.errors["source"][0] or "required" in form.errors["source"][0]
    assert form.errors["target"] == ["No product has the master SKU “NOPE”."]
    assert not Mapping.objects.exists()


def test_mapping_form_suggests_and_enforces_connector_targets(fake_integration, monkeypatch):
    from integrations import registry
    from integrations.forms import MappingForm

    spec = registry.get_connector("fake")
    monkeypatch.setitem(spec.extra, "mapping_targets", "tests.integrations.test_admin_exceptions._targets")
    monkeypatch.setitem(spec.extra, "mapping_targets_strict", ("carrier",))
    form = MappingForm(initial={"integration": fake_integration.pk, "kind": "carrier"})
    assert '<option value="7117">USPS (7117)</option>' in str(form["target"])
    bad = MappingForm(data={"integration": fake_integration.pk, "kind": "carrier", "source": "USPS", "target": "9", "notes": ""})
    assert not bad.is_valid() and "is not one of the values" in bad.errors["target"][0]
    good = MappingForm(data={"integration": fake_integration.pk, "kind": "carrier", "source": "USPS", "target": "7117", "notes": ""})
    assert good.is_valid(), good.errors


def _targets(integration, kind):
    return [("7117", "USPS (7117)")] if kind == "carrier" else []


def test_mapping_form_normalises_sku_source_and_target(fake_integration):
    from catalog.models import Product
    from integrations.forms import MappingForm

    Product.objects.create(sku="M-1", name="m")
    form = MappingForm(data={"integration": fake_integration.pk, "kind": "sku", "source": "\u200bＳＫＵ-１", "target": "Ｍ-１\u200e", "notes": ""})
    assert form.is_valid(), form.errors
    form.save()
    assert list(Mapping.objects.values_list("source", "target")) == [("SKU-1", "M-1")]
    blank = MappingForm(data={"integration": fake_integration.pk, "kind": "sku", "source": "\u200b\u200e", "target": "M-1", "notes": ""})
    assert not blank.is_valid() and "source" in blank.errors
    assert Mapping.objects.count() == 1

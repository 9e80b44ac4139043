"""A generic test connector: a remote with pages of records, exercising the engine end to end."""
from datetime import timedelta

from integrations import registry
from integrations.exceptions import PayloadError
from integrations.flows import Flow, Page
from integrations.models import ExternalRef
from integrations import services

# The "remote": list of pages, each a list of {"id", "value", "updated"}; tests mutate it.
REMOTE: dict = {"pages": [], "fail_at_page": None, "error": None}


class PullThings(Flow):
    code = "pull_things"

    def pages(self, cursor):
        targeted = set(self.ctx.params.get("ids") or [])
        if targeted:  # targeted run: just these ids; its next_cursor must never reach the flow state
            self.ctx.counter.add()
            if REMOTE["error"] is not None and REMOTE["fail_at_page"] == "targeted":
                raise REMOTE["error"]
            if REMOTE.get("during_targeted"):  # e.g. a webhook arriving while this run works
                REMOTE["during_targeted"]()
            items = [i for page in REMOTE["pages"] for i in page if i["id"] in targeted]
            yield Page(items=items, next_cursor={"page": 0, "targeted": True})
            return
        start = cursor.get("page", 0)
        for index, items in enumerate(REMOTE["pages"][start:], start=start):
            self.ctx.counter.add()
            if REMOTE["error"] is not None and REMOTE["fail_at_page"] == index:
                raise REMOTE["error"]
            yield Page(items=items, next_cursor={"page": index + 1})

    def apply(self, page, result):
        result.fetched += len(page.items)
        refs = services.external_refs_get(integration=self.ctx.integration, kind="thing", external_ids=[i["id"] for i in page.items])
        rows = []
        for item in page.items:
            if "value" not in item:
                result.record_payload_error(PayloadError("missing value", external_id=item["id"], field="value"), payload=item)
                continue
            if REMOTE.get("crash_in_apply") == item["id"]:
                raise RuntimeError("crash in the middle of a page")
            ref = refs.get(item["id"])
            digest = str(item["value"])
            if ref and ref.payload_hash == digest:
                result.unchanged += 1
                continue
            if ref:
                result.updated += 1
            else:
                result.created += 1
            rows.append({"external_id": item["id"], "local": None, "payload_hash": digest})
        services.external_refs_bind(integration=self.ctx.integration, kind="thing", rows=rows)


SPEC = registry.ConnectorSpec(
    code="fake",
    label="Fake remote",
    role=registry.CHANNEL,
    sections=("General",),
    settings=(
        registry.SettingSpec("pull_things", "Pull things from Fake", "General", registry.BOOL, default=True),
        registry.SettingSpec("note", "A note", "General", registry.TEXT, default="", max_length=20),
        registry.SettingSpec("statuses", "Statuses", "General", registry.MULTI_CHOICE, default=["a"], choices=(("a", "A"), ("b", "B"))),
        registry.SettingSpec("since", "Exclude things before this date", "General", registry.DATETIME, default=None),
        registry.SettingSpec("skus", "Only these SKUs", "General", registry.TEXT_LIST, default=[]),
    ),
    credentials=(registry.CredentialSpec("api_key", "API Key"), registry.CredentialSpec("api_secret", "API Secret")),
    flows=(registry.FlowSpec("pull_things", "Pull things", "pull", "things", "tests.integrations.fake_connector.PullThings",
                             default_interval=timedelta(minutes=1), enable_setting="pull_things", target_param="ids"),),
)


def things_count(integration) -> int:
    return ExternalRef.objects.filter(integration=integration, kind="thing").count()

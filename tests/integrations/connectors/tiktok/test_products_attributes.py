"""Attribute values: mapping, deterministic derivation from the product's own properties, optional LLM."""
import json

import pytest

from integrations.connectors.tiktok import attributes as attrs

MATERIAL = {"id": "100392", "name": "Material", "is_requried": True, "values": [
    {"id": "1000041", "name": "Cotton"}, {"id": "1000042", "name": "Polyester"}, {"id": "1000043", "name": "Organic Cotton"}]}
PATTERN = {"id": "100393", "name": "Pattern", "is_requried": True, "values": [{"id": "1000051", "name": "Solid"}, {"id": "1000052", "name": "Striped"}]}
SEASON = {"id": "100394", "name": "Season", "is_requried": False, "values": [{"id": "1000061", "name": "Summer"}]}
TEE = attrs.ProductFacts(sku="TEE-RED-M", name="Organic Cotton Tee", description_html="<p>A <b>striped</b> summer tee</p>",
                         variant_options={"color": "Red"}, custom_fields={})


def test_attributes_mapping_parses_pairs():
    assert attrs.parse_attributes_mapping("color:colour, Size:size ;bad") == {"color": "colour", "size": "size"}


def test_product_values_use_the_mapping():
    facts = attrs.ProductFacts(sku="A", variant_options={"color": "Red"}, custom_fields={"Material": "Cotton"})
    assert attrs.product_attribute_values(facts, {"color": "colour"}) == {"material": "Cotton", "colour": "Red"}


def test_rules_pick_the_longest_allowed_value_found_in_the_product():
    assert attrs.derive_by_rules(MATERIAL, TEE) == {"id": "1000043", "name": "Organic Cotton"}
    assert attrs.derive_by_rules(PATTERN, TEE) == {"id": "1000052", "name": "Striped"}


def test_rules_find_nothing_when_the_product_says_nothing():
    plain = attrs.ProductFacts(sku="B", name="Mug", description_html="<p>Ceramic</p>")
    assert attrs.derive_by_rules(MATERIAL, plain) is None


def test_plan_without_derivation_reports_missing_required_attributes():
    plan = attrs.plan_attributes(attributes=[MATERIAL, PATTERN, SEASON], facts=TEE, mapping={}, required_only=True, derive=False)
    assert plan.values == {}
    assert plan.missing == ["Material", "Pattern"]


def test_plan_with_derivation_fills_from_rules_and_says_so():
    plan = attrs.plan_attributes(attributes=[MATERIAL, PATTERN, SEASON], facts=TEE, mapping={}, required_only=True, derive=True)
    assert plan.values["Material"] == {"id": "100392", "value_id": "1000043", "value": "Organic Cotton", "source": "rules"}
    assert plan.missing == []
    assert plan.derived_source == "rules"


def test_required_only_off_also_fills_optional_attributes():
    plan = attrs.plan_attributes(attributes=[MATERIAL, PATTERN, SEASON], facts=TEE, mapping={}, required_only=False, derive=True)
    assert plan.values["Season"]["value"] == "Summer"


def test_allow_and_block_lists_of_attribute_names():
    plan = attrs.plan_attributes(attributes=[MATERIAL, PATTERN], facts=TEE, mapping={}, required_only=True, derive=True,
                                 allowed_names=["Material"])
    assert list(plan.values) == ["Material"] and plan.missing == ["Pattern"]
    plan = attrs.plan_attributes(attributes=[MATERIAL, PATTERN], facts=TEE, mapping={}, required_only=True, derive=True,
                                 blocked_names=["material"])
    assert list(plan.values) == ["Pattern"] and plan.missing == ["Material"]


def test_product_own_value_wins_over_derivation():
    facts = attrs.ProductFacts(sku="C", name="Organic Cotton Tee", custom_fields={"material": "polyester"})
    plan = attrs.plan_attributes(attributes=[MATERIAL], facts=facts, mapping={}, required_only=True, derive=True)
    assert plan.values["Material"] == {"id": "100392", "value_id": "1000042", "value": "Polyester", "source": "product"}


@pytest.fixture
def llm_env(monkeypatch):
    monkeypatch.setenv(attrs.ENV_LLM_URL, "https://llm.example.test/v1")
    monkeypatch.setenv(attrs.ENV_LLM_MODEL, "tiny-model")
    monkeypatch.setenv(attrs.ENV_LLM_API_KEY, "sk-test")


def _llm_answer(responses, content):
    responses.add("POST", "https://llm.example.test/v1/chat/completions",
                  json={"choices": [{"message": {"role": "assistant", "content": content}}]})


def test_llm_is_not_configured_without_environment(monkeypatch):
    monkeypatch.delenv(attrs.ENV_LLM_URL, raising=False)
    assert attrs.llm_client_from_env() is None


def test_llm_fills_what_rules_cannot_and_must_answer_an_allowed_value(llm_env, responses):
    plain = attrs.ProductFacts(sku="B", name="Mug", description_html="<p>Ceramic</p>")
    _llm_answer(responses, " polyester ")
    plan = attrs.plan_attributes(attributes=[MATERIAL], facts=plain, mapping={}, required_only=True, derive=True,
                                 llm=attrs.llm_client_from_env())
    assert plan.values["Material"] == {"id": "100392", "value_id": "1000042", "value": "Polyester", "source": "llm"}
    assert plan.derived_source == "llm"
    request = json.loads(responses.calls[0].request.body)
    assert request["model"] == "tiny-model" and "Cotton; Polyester; Organic Cotton" in request["messages"][1]["content"]
    assert responses.calls[0].request.headers["Authorization"] == "Bearer sk-test"


def test_llm_answer_outside_the_allowed_values_is_ignored(llm_env, responses):
    plain = attrs.ProductFacts(sku="B", name="Mug")
    _llm_answer(responses, "Ceramic")
    plan = attrs.plan_attributes(attributes=[MATERIAL], facts=plain, mapping={}, required_only=True, derive=True,
                                 llm=attrs.llm_client_from_env())
    assert plan.values == {} and plan.missing == ["Material"]


def test_llm_failure_leaves_the_attribute_missing(llm_env, responses):
    responses.add("POST", "https://llm.example.test/v1/chat/completions", status=500)
    plan = attrs.plan_attributes(attributes=[MATERIAL], facts=attrs.ProductFacts(sku="B", name="Mug"), mapping={},
                                 required_only=True, derive=True, llm=attrs.llm_client_from_env())
    assert plan.missing == ["Material"]


def test_rules_run_before_the_llm(llm_env, responses):
    plan = attrs.plan_attributes(attributes=[MATERIAL], facts=TEE, mapping={}, required_only=True, derive=True,
                                 llm=attrs.llm_client_from_env())
    assert plan.values["Material"]["source"] == "rules"
    assert len(responses.calls) == 0

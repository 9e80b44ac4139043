

def test_per_request_signatures_are_not_registered_but_still_masked_by_name():
    from integrations import redaction

    before = len(redaction._values)
    for n in range(50):  # a worker signing request after request
        redaction.secrets_register_params({"sign": f"{n:064x}", "access_token": "TTP_per_request_test_token"})
    assert len(redaction._values) - before <= 3  # the token once (raw and two quoted forms), no signature
    assert redaction.redact(f"GET /api?sign={49:064x}&x=1") == "GET /api?sign=***&x=1"
    assert "TTP_per_request_test_token" not in redaction.redact("token TTP_per_request_test_token leaked")

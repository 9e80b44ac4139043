"""DEFAULT_EXCEPTION_REPORTER: Django's DEBUG 500 page and error e-mails with every secret masked
(exception chain, frame variables, request data: see integrations/redaction.py)."""
from django.views.debug import ExceptionReporter

from integrations.redaction import MASK, is_secret_name, redact, redact_exception


class RedactingExceptionReporter(ExceptionReporter):
    def get_traceback_data(self):
        data = super().get_traceback_data()
        if "request_GET_items" in data:  # Django shows GET unfiltered (an OAuth callback's code and state)
            data["request_GET_items"] = [(k, MASK if is_secret_name(k) else v) for k, v in self.request.GET.lists()]
        return data

    def __init__(self, request, exc_type, exc_value, tb, is_email=False):
        redact_exception(exc_value)
        super().__init__(request, exc_type, exc_value, tb, is_email)

    def get_traceback_html(self):
        return redact(super().get_traceback_html())

    def get_traceback_text(self):
        return redact(super().get_traceback_text())

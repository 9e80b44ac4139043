import logging

from django.conf import settings


def test_urllib3_never_logs_urls_even_when_root_is_debug():
    # urllib3 logs full request URLs (with query strings) at DEBUG
    assert settings.LOGGING["loggers"]["urllib3"]["level"] == "WARNING"
    assert logging.getLogger("urllib3").getEffectiveLevel() == logging.WARNING

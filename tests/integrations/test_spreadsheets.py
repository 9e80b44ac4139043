"""One escaping rule for every CSV/XLSX cell the product writes (OWASP CSV injection)."""
import pytest

from integrations import configuration, resources
from integrations.spreadsheets import cell_escape, cell_unescape


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("'quoted", "''quoted"), ("plain", "plain"), ("", ""), ("a=b", "a=b"),
])
def test_one_rule(value, expected):
    assert cell_escape(value) == expected
    assert cell_unescape(cell_escape(value)) == value


def test_every_writer_uses_the_one_rule():
    assert resources._escape is cell_escape
    assert configuration.csv_escape is cell_escape

"""The client ↔ endpoints ↔ tokens import circle stays broken: the modules the client builds on never
import the client back (not even inside a function)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[4] / "integrations" / "connectors" / "tiktok"
CLIENT = "integrations.connectors.tiktok.client"


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("module", ["tokens.py", "transport.py", "endpoints_catalog.py", "signing.py", "constants.py"])
def test_modules_under_the_client_do_not_import_it(module):
    assert CLIENT not in _imported_modules(PACKAGE / module)


def test_client_imports_tokens_and_endpoints_directly():
    imported = _imported_modules(PACKAGE / "client.py")
    assert "integrations.connectors.tiktok.tokens" in imported
    assert "integrations.connectors.tiktok.endpoints_catalog" in imported

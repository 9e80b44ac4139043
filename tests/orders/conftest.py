import pytest

from tests.orders import factories as f


@pytest.fixture(autouse=True)
def ops_connectors():
    f.register()
    yield
    f.unregister()


@pytest.fixture
def shop(db):
    return f.channel()


@pytest.fixture
def tpl(db):
    return f.three_pl()


@pytest.fixture
def wh(tpl):
    return f.location(tpl, "wh-east")


@pytest.fixture
def wh2(tpl):
    return f.location(tpl, "wh-west")


@pytest.fixture
def sku_a(db):
    return f.product("A")


@pytest.fixture
def sku_b(db):
    return f.product("B")

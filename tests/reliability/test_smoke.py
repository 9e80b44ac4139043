from tests.reliability import invariants


def test_smoke(world):
    world.place_order(("TEE-BLK-M", 2), ("CAP-RED", 1))
    world.place_order(("BUNDLE-TEE-CAP", 1))
    world.settle()
    print(invariants.violations(world))
    assert 0

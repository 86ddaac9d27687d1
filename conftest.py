"""Makes `pytest scenarios/` work from a checkout, without installing the package."""

pytest_plugins = ["harness.pytest.plugin"]

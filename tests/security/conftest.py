"""The security suite: every test under tests/security/ carries the ``security`` marker.

Tests that need the real stack live beside the other integration tests (``tests/integration``, marked
``security`` as well) so that one stack serves the whole run; ``pytest -m security`` runs them all.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in item.nodeid:
            item.add_marker(pytest.mark.security)

"""Fixtures for graph tests: a small white image and a mock backend that answers perfectly."""

import pytest
from graph_helpers import scripted
from PIL import Image as PILImage

from skillgap import MockBackend


@pytest.fixture
def image() -> PILImage.Image:
    return PILImage.new("RGB", (80, 80), "white")


@pytest.fixture
def backend() -> MockBackend:
    return MockBackend(handler=scripted)

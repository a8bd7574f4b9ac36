"""The link tests use the pages' frozen clock (tests/pages/conftest.py)."""

from tests.pages.conftest import frozen_clock

__all__ = ["frozen_clock"]

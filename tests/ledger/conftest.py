"""Ledger fixtures: the payment tests' books."""

from tests.payments.conftest import book  # noqa: F401 (re-exported as a fixture for these tests)

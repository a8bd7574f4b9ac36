"""Fixtures for the pay button tests: the real-SMTP inbox the receipt tests use."""

from tests.payments.test_receipts import smtp

__all__ = ["smtp"]

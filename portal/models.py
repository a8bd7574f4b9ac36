"""Every feature's models in one import, so Alembic and the tests see the whole schema."""

from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import Base
from portal.firms.models import APIKey, Firm, MerchantAccount, MerchantAccountKind
from portal.ledger.models import TrustEntry
from portal.links.models import Link, link_matters

__all__ = [
    "APIKey",
    "Base",
    "Client",
    "Firm",
    "Invoice",
    "InvoiceStatus",
    "Link",
    "Matter",
    "MerchantAccount",
    "MerchantAccountKind",
    "TrustEntry",
    "link_matters",
]

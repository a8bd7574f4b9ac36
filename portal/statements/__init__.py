"""The client's read model: what a link's client sees per matter (the matters list, a matter's
statement, its trust history).

Above payments in the package graph: it reads invoices, the trust ledger, trust requests and
payments still in flight, and writes nothing.
"""

from portal.statements.matters import Audience, MatterSummary, link_and_audience, matter_summaries
from portal.statements.scope import (
    MAX_HISTORY_PAGE,
    OPEN_INVOICES_SHOWN,
    PAID_INVOICES_SHOWN,
    TRUST_ENTRIES_SHOWN,
    TRUST_HISTORY_PAGE,
    TrustLine,
)
from portal.statements.statement import (
    InvoiceLine,
    RequestLine,
    Statement,
    TrustHistory,
    statement_for,
    trust_history,
)

__all__ = [
    "MAX_HISTORY_PAGE",
    "OPEN_INVOICES_SHOWN",
    "PAID_INVOICES_SHOWN",
    "TRUST_ENTRIES_SHOWN",
    "TRUST_HISTORY_PAGE",
    "Audience",
    "InvoiceLine",
    "MatterSummary",
    "RequestLine",
    "Statement",
    "TrustHistory",
    "TrustLine",
    "link_and_audience",
    "matter_summaries",
    "statement_for",
    "trust_history",
]

"""The back office's use cases over several features: the sync of clients, matters, invoices
and trust entries (with evergreen top-ups after it), readings back that join the portal's
payments, and reports. Above payments in the package graph; the firm API calls it."""

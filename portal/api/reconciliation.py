"""The reconciliation report under /api/v1: per merchant account and day, JSON or CSV."""

from __future__ import annotations

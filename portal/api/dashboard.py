"""GET /api/v1/dashboard: what the firm received per merchant account today, this month and
this year (days of the firm's time zone), and what needs a person.

The figures come from `portal.backoffice.dashboard` (the console's dashboard shows the same);
this module declares the route and its answer models.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g
from pydantic import Field

from portal.api.schemas import Output
from portal.api.views import api
from portal.backoffice import dashboard as figures
from portal.firms import scopes
from portal.firms.models import MerchantAccountKind


class ReceivedOut(Output):
    """Charges to the account whose money arrived in the period (refunds and reversals
    afterwards do not take them out)."""

    count: int
    amount: int = Field(description="Minor units of the account's currency.")

    @classmethod
    def of(cls, received: figures.Received) -> ReceivedOut:
        return cls(count=received.count, amount=received.amount_minor)


class AccountFiguresOut(Output):
    """One merchant account: trust and operating are always apart."""

    kind: MerchantAccountKind
    label: str
    currency: str
    today: ReceivedOut
    month: ReceivedOut
    year: ReceivedOut

    @classmethod
    def of(cls, line: figures.AccountFigures) -> AccountFiguresOut:
        return cls(
            kind=line.account.kind,
            label=line.account.label,
            currency=line.account.currency,
            today=ReceivedOut.of(line.today),
            month=ReceivedOut.of(line.month),
            year=ReceivedOut.of(line.year),
        )


class AttentionOut(Output):
    """How many need a person, and the first 20 of them, oldest first."""

    count: int
    items: list[dict[str, Any]]

    @classmethod
    def of(cls, attention: figures.Attention) -> AttentionOut:
        return cls(count=attention.count, items=attention.items)


class DashboardOut(Output):
    today: dt.date = Field(description="The firm's today, in its time zone.")
    time_zone: str
    accounts: list[AccountFiguresOut]
    held_postings: AttentionOut = Field(
        description="Postings waiting for the firm to release them: id, type, created_at."
    )
    failed_deliveries: AttentionOut = Field(
        description='Postings every retry failed (kind "posting") and link emails the mail '
        'server refused (kind "link_email"): id, type, created_at.'
    )
    unmatched_payments: AttentionOut = Field(
        description="Pay-button payments whose reference matched nothing, not yet applied: "
        "id, amount_minor, currency, payer_reference, created_at."
    )
    trust_shortfalls: AttentionOut = Field(
        description="Matters whose trust balance is below their minimum (or below zero): "
        "matter, balance_minor, minimum_minor, shortfall_minor."
    )
    disputes_and_returns: AttentionOut = Field(
        description="Charges in dispute, and ACH returns of the last 30 days: payment, "
        "charge, status, amount_minor, currency, account_kind."
    )
    overdue_trust_requests: AttentionOut = Field(
        description="Open or partly paid trust requests past their due day: id, matter, "
        "outstanding_minor, currency, due_on."
    )
    expiring_cards: AttentionOut = Field(
        description="Saved cards that stop working within 30 days (or have), soonest first: "
        "payment_method, payer, brand, last4, exp_month, exp_year."
    )

    @classmethod
    def of(cls, board: figures.Dashboard) -> DashboardOut:
        return cls(
            today=board.today,
            time_zone=board.time_zone,
            accounts=[AccountFiguresOut.of(line) for line in board.accounts],
            held_postings=AttentionOut.of(board.held_postings),
            failed_deliveries=AttentionOut.of(board.failed_deliveries),
            unmatched_payments=AttentionOut.of(board.unmatched_payments),
            trust_shortfalls=AttentionOut.of(board.trust_shortfalls),
            disputes_and_returns=AttentionOut.of(board.disputes_and_returns),
            overdue_trust_requests=AttentionOut.of(board.overdue_trust_requests),
            expiring_cards=AttentionOut.of(board.expiring_cards),
        )


@api.route(
    "GET",
    "/dashboard",
    summary="Read the dashboard",
    tag="dashboard",
    scope=scopes.PAYMENTS_READ,
    responses={200: DashboardOut},
)
def get_dashboard() -> DashboardOut:
    """Per merchant account, the charges whose money arrived today, this month and this year
    (days of the firm's time zone); and what needs a person, each as a count and its first
    20 items: held postings, failed deliveries, unmatched payments, trust shortfalls,
    disputes and ACH returns, overdue trust requests, saved cards about to expire."""
    return DashboardOut.of(figures.dashboard(g.firm_id))

"""Allocation rules as properties: never over a balance, sums kept, apply order, routing."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.firms.models import AutoApplyOrder, MerchantAccountKind
from portal.money import MAX_MINOR
from portal.payments.allocation import (
    AllocationError,
    Basket,
    PayableInvoice,
    Rules,
    apply_order,
    auto_apply,
    check_carried,
    plan,
)
from portal.payments.models import ALLOWED, AllocationKind, ChargeStatus

BASE = dt.date(2026, 1, 1)

invoice_lists = st.lists(
    st.builds(
        lambda n, due, issued, payable: PayableInvoice(
            id=n,
            matter_id=1 + n % 3,
            number=f"INV-{n:04d}",
            issued_on=BASE + dt.timedelta(issued),
            due_on=None if due is None else BASE + dt.timedelta(due),
            currency="USD",
            payable_minor=payable,
        ),
        st.integers(1, 10_000),
        st.none() | st.integers(0, 400),
        st.integers(0, 400),
        st.integers(1, 5_000_000),
    ),
    min_size=1,
    max_size=12,
    unique_by=lambda invoice: invoice.id,
)


@settings(max_examples=200, deadline=None)
@given(invoices=invoice_lists, data=st.data())
def test_auto_apply_never_exceeds_and_keeps_the_sum(invoices, data) -> None:
    due = sum(i.payable_minor for i in invoices)
    total = data.draw(st.integers(1, due))
    applied = auto_apply(invoices, total)
    by_id = {i.id: i for i in invoices}
    assert sum(applied.values()) == total
    assert all(0 < amount <= by_id[i].payable_minor for i, amount in applied.items())
    # Oldest first: every invoice before the last one touched is paid in full.
    ordered = sorted(invoices, key=apply_order)
    touched = [i for i in ordered if i.id in applied]
    last = ordered.index(touched[-1])
    assert all(applied.get(i.id) == i.payable_minor for i in ordered[:last])
    assert all(i.id not in applied for i in ordered[last + 1 :])


@given(invoices=invoice_lists)
def test_auto_apply_refuses_more_than_is_due(invoices) -> None:
    with pytest.raises(AllocationError):
        auto_apply(invoices, sum(i.payable_minor for i in invoices) + 1)


def test_apply_order_is_due_date_then_issue_date_then_number() -> None:
    def inv(n: int, due: int | None, issued: int, number: str) -> PayableInvoice:
        return PayableInvoice(
            n,
            1,
            number,
            BASE + dt.timedelta(issued),
            None if due is None else BASE + dt.timedelta(due),
            "USD",
            100,
        )

    invoices = [
        inv(1, None, 0, "A"),
        inv(2, 10, 5, "B"),
        inv(3, 10, 2, "C"),
        inv(4, 3, 9, "D"),
        inv(5, 10, 2, "A2"),
    ]
    assert [i.id for i in sorted(invoices, key=apply_order)] == [4, 5, 3, 2, 1]


@settings(max_examples=200, deadline=None)
@given(invoices=invoice_lists, data=st.data())
def test_plan_routes_invoices_to_operating_and_deposits_to_trust(invoices, data) -> None:
    chosen = data.draw(st.lists(st.sampled_from(invoices), unique_by=lambda i: i.id, max_size=5))
    amounts = {
        i.id: data.draw(st.integers(100, max(100, i.payable_minor)))
        for i in chosen
        if i.payable_minor >= 100
    }
    deposits = data.draw(
        st.dictionaries(st.sampled_from([1, 2, 3]), st.integers(100, 10**9), max_size=3)
    )
    if not amounts and not deposits:
        return
    result = plan(
        Basket(amounts, deposits),
        invoices={i.id: i for i in invoices},
        trust_matters={1: "USD", 2: "USD", 3: "USD"},
        rules=Rules(),
    )
    kinds = [c.account_kind for c in result.charges]
    assert len(kinds) == len(set(kinds))  # one charge per merchant account
    for charge in result.charges:
        expected = (
            AllocationKind.INVOICE
            if charge.account_kind is MerchantAccountKind.OPERATING
            else AllocationKind.TRUST_DEPOSIT
        )
        assert {line.kind for line in charge.lines} == {expected}
    assert result.total_minor == sum(amounts.values()) + sum(deposits.values())


@settings(max_examples=300, deadline=None)
@given(
    invoices=invoice_lists,
    data=st.data(),
    allow_partial=st.booleans(),
    minimum=st.integers(1, 10_000),
)
def test_any_basket_is_planned_within_the_balances_or_refused_by_line(
    invoices, data, allow_partial, minimum
) -> None:
    # given any amounts, hostile ones too, for invoices the payer may or may not see
    known = {i.id: i for i in invoices}
    amounts = st.integers(-(10**15), 10**15) | st.sampled_from([0, 1, 99, 100, MAX_MINOR + 1])
    asked = data.draw(
        st.dictionaries(st.sampled_from([*known, 999_999]), amounts, max_size=6), label="invoices"
    )
    deposits = data.draw(
        st.dictionaries(st.sampled_from([1, 2, 3, 77]), amounts, max_size=3), label="deposits"
    )
    rules = Rules(allow_partial=allow_partial, minimum_minor=minimum)

    # when
    refused: list[dict[str, str]] = []
    try:
        result = plan(
            Basket(asked, deposits),
            invoices=known,
            trust_matters={1: "USD", 2: "USD", 3: "USD"},
            rules=rules,
        )
    except AllocationError as exc:
        refused = exc.errors or [{"field": "(none named)"}]
    if refused:
        # then a refusal names lines of the basket (or the basket as a whole)
        names = {f"invoice-{i}" for i in asked} | {f"trust-{m}" for m in deposits} | {"basket"}
        assert {error["field"] for error in refused} <= names
        return

    # then every line is what was asked, above zero and never over what is payable
    lines = [line for charge in result.charges for line in charge.lines]
    assert {line.invoice_id: line.amount_minor for line in lines if line.invoice_id} == asked
    for line in lines:
        assert line.amount_minor > 0
        if line.invoice_id is not None:
            payable = known[line.invoice_id].payable_minor
            assert line.amount_minor <= payable
            assert allow_partial or line.amount_minor == payable
            assert line.amount_minor >= min(minimum, payable)
        else:
            assert line.amount_minor == deposits[line.matter_id] >= minimum
    assert 0 < result.total_minor <= MAX_MINOR
    assert result.total_minor == sum(asked.values()) + sum(deposits.values())


@pytest.mark.parametrize(
    ("basket", "field"),
    [
        (Basket({1: 101}), "invoice-1"),  # over the balance
        (Basket({1: 50}), "invoice-1"),  # under the minimum
        (Basket({9: 100}), "invoice-9"),  # not the payer's
        (Basket(trust_deposits={7: 500}), "trust-7"),  # not the payer's matter
        (Basket(trust_deposits={1: 0}), "trust-1"),
        (Basket(), "basket"),
    ],
)
def test_plan_refusals_name_the_line(basket: Basket, field: str) -> None:
    invoice = PayableInvoice(1, 1, "INV-1", BASE, BASE, "USD", 100)
    with pytest.raises(AllocationError) as caught:
        plan(basket, invoices={1: invoice}, trust_matters={1: "USD"}, rules=Rules())
    assert [e["field"] for e in caught.value.errors] == [field]


def test_partial_payments_can_be_turned_off() -> None:
    invoice = PayableInvoice(1, 1, "INV-1", BASE, BASE, "USD", 10_000)
    with pytest.raises(AllocationError) as caught:
        plan(
            Basket({1: 5_000}),
            invoices={1: invoice},
            trust_matters={},
            rules=Rules(allow_partial=False),
        )
    assert "paid in full" in caught.value.errors[0]["detail"]


def test_mixed_currencies_are_refused() -> None:
    invoice = PayableInvoice(1, 1, "INV-1", BASE, BASE, "USD", 10_000)
    with pytest.raises(AllocationError):
        plan(
            Basket({1: 5_000}, {2: 5_000}),
            invoices={1: invoice},
            trust_matters={2: "EUR"},
            rules=Rules(),
        )


FINALS = {ChargeStatus.FAILED, ChargeStatus.CANCELED, ChargeStatus.REFUNDED, ChargeStatus.RETURNED}


@given(path=st.lists(st.sampled_from(list(ChargeStatus)), max_size=12))
def test_no_path_through_the_table_leaves_a_final_state(path) -> None:
    state, seen_final = ChargeStatus.CREATED, None
    for step in path:
        if step in ALLOWED[state]:
            state = step
        if state in FINALS and seen_final is None:
            seen_final = state
    assert seen_final is None or state == seen_final


def test_money_goes_back_only_after_it_arrived() -> None:
    for final in FINALS:
        assert ALLOWED[final] == frozenset()
    for status in (ChargeStatus.REFUNDED, ChargeStatus.RETURNED, ChargeStatus.DISPUTED):
        for source in (ChargeStatus.CREATED, ChargeStatus.PROCESSING):
            assert status not in ALLOWED[source]


def _invoice(n: int, *, issued: int, due: int | None, payable: int) -> PayableInvoice:
    return PayableInvoice(
        id=n,
        matter_id=1,
        number=f"INV-{n}",
        issued_on=BASE + dt.timedelta(issued),
        due_on=None if due is None else BASE + dt.timedelta(due),
        currency="USD",
        payable_minor=payable,
    )


@pytest.mark.parametrize(
    ("order", "applied"),
    [
        (AutoApplyOrder.OLDEST_DUE, {2: 100_00}),
        (AutoApplyOrder.OLDEST_ISSUED, {1: 100_00}),
        (AutoApplyOrder.SMALLEST_FIRST, {3: 50_00, 1: 50_00}),
    ],
)
def test_a_total_is_applied_in_the_firms_order(
    order: AutoApplyOrder, applied: dict[int, int]
) -> None:
    invoices = [
        _invoice(1, issued=0, due=40, payable=200_00),  # issued first
        _invoice(2, issued=10, due=20, payable=300_00),  # due first
        _invoice(3, issued=5, due=None, payable=50_00),  # smallest, no due date
    ]
    assert auto_apply(invoices, 100_00, order) == applied


@pytest.mark.parametrize(
    ("invoices", "deposits", "allow_partial", "codes"),
    [
        ({1: 500}, {7: 300}, True, []),
        ({1: 400}, {}, True, []),  # lowered, a line left out: partial payments allowed
        ({1: 400}, {7: 300}, False, ["line_partial_not_allowed"]),
        ({1: 500}, {}, False, ["line_partial_not_allowed"]),
        ({1: 501}, {7: 300}, True, ["line_over_carried"]),
        ({1: 500, 2: 100}, {7: 300}, True, ["line_not_carried"]),
        ({1: 500}, {7: 300, 8: 100}, True, ["line_not_carried"]),
    ],
)
def test_a_basket_stays_within_the_lines_a_link_carries(
    invoices: dict[int, int], deposits: dict[int, int], allow_partial: bool, codes: list[str]
) -> None:
    def check() -> None:
        check_carried(
            Basket(invoices=invoices, trust_deposits=deposits),
            invoices={1: 500},
            deposits={7: 300},
            rules=Rules(allow_partial=allow_partial),
            currency="USD",
        )

    if not codes:
        check()
        return
    with pytest.raises(AllocationError) as caught:
        check()
    assert [e["code"] for e in caught.value.errors] == codes

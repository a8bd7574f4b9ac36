"""GET/PATCH /api/v1/merchant-accounts and the back office's lists (/api/v1/back-office/lists):
public ids, per-language labels, posting defaults, the kind lock, bad input, audit events."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.firms.models import APIKey, MerchantAccount
from portal.firms.services import account_label
from tests.api.conftest import pointers
from tests.conftest import APIClient
from tests.payments.conftest import Book, pay
from tests.payments.conftest import book as book  # a fixture

BASE = "/api/v1/merchant-accounts"


def patch(api: APIClient, account_id: str, body: Any) -> Any:
    return api.client.patch(
        f"{BASE}/{account_id}", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )


def accounts(api: APIClient) -> dict[str, dict[str, Any]]:
    """The firm's accounts as the API lists them, by kind."""
    response = api.get(BASE)
    assert response.status_code == 200
    return {account["kind"]: account for account in response.get_json()["data"]}


def test_the_list_shows_both_accounts_with_public_ids_and_spanish_labels(
    api: APIClient, firm
) -> None:
    found = accounts(api)
    assert set(found) == {"operating", "trust"}
    operating = found["operating"]
    assert operating["id"].startswith("ma_")
    # never the sequential id
    ids = {str(a.id) for a in firm.firm.merchant_accounts}
    assert not {a["id"] for a in found.values()} & ids
    assert operating == {
        "id": operating["id"],
        "kind": "operating",
        "currency": "USD",
        "label": "Operating account",
        "labels": {"es": "Cuenta operativa", "fr": "Compte d\u2019exploitation"},
        "ledger_code": "1000",
        "transaction_type": "Payment",
        "bank_account_code": "OPERATING",
        "accepts_card": True,
        "accepts_ach": True,
        "gateway": "sandbox",
        "stripe_account": None,
        "stripe_webhook_url": f"http://localhost/hooks/stripe/{operating['id']}",
    }
    assert found["trust"]["labels"] == {
        "es": "Cuenta fiduciaria (IOLTA)",
        "fr": "Compte en fidéicommis (IOLTA)",
    }
    assert api.get(f"{BASE}/{operating['id']}").get_json() == operating


def test_patch_sets_what_is_sent_and_audits_each_change(api: APIClient, firm, session) -> None:
    trust = accounts(api)["trust"]
    # when
    response = patch(
        api,
        trust["id"],
        {
            "label": "  Client trust  ",
            "labels": {"en": "Client trust", "es": "Fideicomiso"},
            "ledger_code": "1020",
            "transaction_type": "Retainer",
            "bank_account_code": "IOLTA-2",
            "accepts_ach": False,
        },
    )
    # then
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["label"] == "Client trust"
    assert body["labels"] == {"en": "Client trust", "es": "Fideicomiso"}
    assert (body["ledger_code"], body["transaction_type"], body["bank_account_code"]) == (
        "1020",
        "Retainer",
        "IOLTA-2",
    )
    assert (body["accepts_card"], body["accepts_ach"]) == (True, False)
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.firm_id == firm.id, AuditEvent.entity == "merchant_account")
        .order_by(AuditEvent.id)
    ).all()
    changed = {e.field: (e.before, e.after) for e in events}
    assert changed == {
        "label": ("Trust account (IOLTA)", "Client trust"),
        "labels": (
            {"es": "Cuenta fiduciaria (IOLTA)", "fr": "Compte en fidéicommis (IOLTA)"},
            {"en": "Client trust", "es": "Fideicomiso"},
        ),
        "ledger_code": ("1010", "1020"),
        "transaction_type": ("Deposit", "Retainer"),
        "bank_account_code": ("TRUST", "IOLTA-2"),
        "accepts_ach": (True, False),
    }
    key_id = session.scalar(select(APIKey.id).where(APIKey.firm_id == firm.id))
    assert {(e.actor_kind, e.actor_id, e.entity, e.entity_id, e.action) for e in events} == {
        ("api_key", str(key_id), "merchant_account", trust["id"], "merchant_account.updated")
    }
    # and sending the same again changes and audits nothing more
    assert patch(api, trust["id"], {"ledger_code": "1020"}).status_code == 200
    assert session.query(AuditEvent).filter_by(
        firm_id=firm.id, entity="merchant_account"
    ).count() == len(events)


def test_a_client_sees_the_label_in_their_language(firm) -> None:
    operating = next(a for a in firm.firm.merchant_accounts if a.kind.value == "operating")
    assert account_label(operating, "es_US") == "Cuenta operativa"
    assert account_label(operating, "en_US") == "Operating account"
    assert account_label(operating, "fr_FR") == "Compte d\u2019exploitation"  # seeded
    assert account_label(operating, "de_DE") == "Operating account"


def test_another_firms_account_is_not_found(api: APIClient, other_api: APIClient) -> None:
    theirs = accounts(other_api)["operating"]["id"]
    assert api.get(f"{BASE}/{theirs}").status_code == 404
    response = patch(api, theirs, {"label": "Mine now"})
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert accounts(other_api)["operating"]["label"] == "Operating account"
    assert api.get(f"{BASE}/ma_nothing").status_code == 404


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"colour": "red"}, "/colour"),
        ({"currency": "EUR"}, "/currency"),
        ({"id": "ma_x"}, "/id"),
        ({"label": ""}, "/label"),
        ({"label": None}, "/label"),
        ({"label": "x" * 101}, "/label"),
        ({"label": "Trust\u0007"}, "/label"),
        ({"labels": {"es": "y" * 101}}, "/labels/es"),
        ({"labels": {"es": "Cuenta\u0000"}}, "/labels/es"),
        ({"labels": {"es": "Cuenta\nfiduciaria"}}, "/labels/es"),
        ({"labels": {"de": "Treuhandkonto"}}, "/labels/de"),
        ({"labels": ["es"]}, "/labels"),
        ({"accepts_card": "yes"}, "/accepts_card"),
        ({"accepts_ach": None}, "/accepts_ach"),
        ({"kind": "savings"}, "/kind"),
        ({"gateway": "paypal"}, "/gateway"),
        ({"ledger_code": 1000}, "/ledger_code"),
        ({"stripe_account": "sk_live_123"}, "/stripe_account"),
        ({"gateway": "stripe"}, "/stripe_account"),
        ({"reason": "x" * 501}, "/reason"),
        ({"reason": "Ledger\u0000"}, "/reason"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_saves_nothing(
    api: APIClient, firm, session, body: dict[str, Any], pointer: str
) -> None:
    before = accounts(api)["operating"]
    response = patch(api, before["id"], {"ledger_code": "2000", **body})
    assert response.status_code == 422, response.get_json()
    assert response.content_type == "application/problem+json"
    assert pointer in pointers(response)
    assert accounts(api)["operating"] == before
    assert (
        session.query(AuditEvent).filter_by(firm_id=firm.id, entity="merchant_account").count() == 0
    )


def test_kind_may_change_only_while_the_account_has_no_payments(
    api: APIClient, firm, book: Book, session
) -> None:
    found = accounts(api)
    # Changing to the kind of the firm's other account in the same currency is a conflict too.
    response = patch(api, found["operating"]["id"], {"kind": "trust"})
    assert response.status_code == 409
    assert "already has a trust account" in response.get_json()["detail"]
    # given a payment to the operating account
    pay(book, invoices={book.old.id: 10_000})
    # when
    response = patch(api, found["operating"]["id"], {"kind": "trust", "label": "Renamed"})
    # then
    assert response.status_code == 409
    problem = response.get_json()
    assert problem["type"] == "/problems/merchant-account-in-use"
    assert "has payments" in problem["detail"]
    assert accounts(api)["operating"]["label"] == "Operating account"


def test_kind_changes_on_an_account_without_payments(api: APIClient, firm, session) -> None:
    trust = session.scalars(
        select(MerchantAccount).where(
            MerchantAccount.firm_id == firm.id, MerchantAccount.kind == "trust"
        )
    ).one()
    trust.currency = "CAD"  # so no other trust account shares its currency
    session.flush()
    response = patch(api, trust.public_id, {"kind": "operating"})
    assert response.status_code == 200
    assert response.get_json()["kind"] == "operating"


# The back office's lists

LISTS = "/api/v1/back-office/lists"


def test_lists_are_null_until_synced_and_a_put_replaces_them(api: APIClient, firm, session) -> None:
    assert api.get(LISTS).get_json() == {
        "bank_accounts": None,
        "ledger_codes": None,
        "transaction_types": None,
    }
    body = {
        "ledger_codes": [
            {"code": "1000", "name": "Operating cash"},
            {"code": "1010", "name": "IOLTA trust"},
        ],
        "bank_accounts": [{"code": "OPERATING", "name": "First Bank operating"}],
    }
    response = api.put(LISTS, json=body)
    assert response.status_code == 200
    assert response.get_json() == {**body, "transaction_types": None}
    # idempotent: the same again changes nothing and audits once per list
    assert api.put(LISTS, json=body).get_json() == response.get_json()
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.firm_id == firm.id, AuditEvent.entity == "back_office_list"
        )
    ).all()
    assert sorted(e.entity_id for e in events) == ["bank_accounts", "ledger_codes"]
    # a list left out stays; one sent replaces; null removes
    response = api.put(
        LISTS, json={"ledger_codes": [{"code": "4000", "name": "Fees"}], "bank_accounts": None}
    )
    assert response.get_json() == {
        "bank_accounts": None,
        "ledger_codes": [{"code": "4000", "name": "Fees"}],
        "transaction_types": None,
    }


def test_a_synced_list_governs_its_merchant_account_field(api: APIClient) -> None:
    operating = accounts(api)["operating"]["id"]
    api.put(
        LISTS,
        json={
            "ledger_codes": [
                {"code": "1000", "name": "Operating cash"},
                {"code": "1200", "name": "Receivables"},
            ]
        },
    )
    # when a code not on the list is set
    response = patch(api, operating, {"ledger_code": "9999", "transaction_type": "Anything"})
    # then a 422 names the field and the allowed values; the unlisted field is free
    assert response.status_code == 422
    (error,) = response.get_json()["errors"]
    assert error["pointer"] == "/ledger_code"
    assert "1000, 1200" in error["detail"]
    assert patch(api, operating, {"ledger_code": "1200"}).status_code == 200
    assert patch(api, operating, {"ledger_code": None}).status_code == 200


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        (
            {"ledger_codes": [{"code": "1", "name": "A"}, {"code": "1", "name": "B"}]},
            "/ledger_codes",
        ),
        ({"ledger_codes": [{"code": "1"}]}, "/ledger_codes/0/name"),
        ({"ledger_codes": [{"code": "", "name": "A"}]}, "/ledger_codes/0/code"),
        ({"ledger_codes": [{"code": "1", "name": "A\u0001"}]}, "/ledger_codes/0/name"),
        ({"accounts": []}, "/accounts"),
        ({"ledger_codes": "1000"}, "/ledger_codes"),
    ],
)
def test_bad_lists_are_refused(api: APIClient, body: dict[str, Any], pointer: str) -> None:
    response = api.put(LISTS, json=body)
    assert response.status_code == 422
    assert pointer in pointers(response)
    assert api.get(LISTS).get_json()["ledger_codes"] is None


def test_the_routes_are_documented(api: APIClient) -> None:
    paths = api.get("/api/v1/openapi.json").get_json()["paths"]
    assert set(paths["/api/v1/merchant-accounts/{id}"]) == {"get", "patch"}
    assert "503" in paths["/api/v1/merchant-accounts/{id}"]["patch"]["responses"]
    assert "post" in paths["/api/v1/merchant-accounts/{id}/stripe-onboarding"]
    assert set(paths["/api/v1/back-office/lists"]) == {"get", "put"}


def test_receipts_name_the_account_in_the_clients_language(book: Book) -> None:
    from portal.payments import receipts
    from portal.templating import locale_scope

    (charge,) = receipts.receipt_for(pay(book, invoices={book.old.id: 10_000})).charges
    with locale_scope("es_US"):
        assert charge.account_label == "Cuenta operativa"
    with locale_scope("en_US"):
        assert charge.account_label == "Operating account"

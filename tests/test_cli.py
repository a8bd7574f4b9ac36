"""The command line: creating firms and keys, and the Quickstart's demo."""

from __future__ import annotations

import hashlib
import json
import re

from flask import Flask
from sqlalchemy import select

from portal.billing.models import Client, Invoice, Matter
from portal.firms.models import APIKey, Firm, MerchantAccount, MerchantAccountKind
from portal.firms.services import authenticate
from portal.ledger.models import TrustEntry
from portal.payers.models import ConsentScope, Payer
from portal.payments.models import Payment, payment_status
from tests.console.conftest import Console
from tests.console.test_make_payment import _carried, _preview, _search, _tick


def test_create_firm_json(app: Flask, session) -> None:
    # when
    result = app.test_cli_runner().invoke(args=["create-firm", "Ngata & Rossi", "--json"])
    # then one JSON object with id, slug and a working key
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"id", "slug", "api_key"}
    firm = session.get(Firm, out["id"])
    assert firm.slug == out["slug"] == "ngata-rossi"
    kinds = {
        a.kind
        for a in session.scalars(select(MerchantAccount).where(MerchantAccount.firm_id == firm.id))
    }
    assert kinds == {MerchantAccountKind.OPERATING, MerchantAccountKind.TRUST}
    assert {a.gateway for a in firm.merchant_accounts} == {"sandbox"}
    assert authenticate(out["api_key"]).firm_id == firm.id


def test_keys_are_stored_hashed(app: Flask, session) -> None:
    out = json.loads(
        app.test_cli_runner().invoke(args=["create-firm", "Hash Check", "--json"]).output
    )
    stored = session.scalars(select(APIKey).where(APIKey.firm_id == out["id"])).one()
    assert stored.key_hash == hashlib.sha256(out["api_key"].encode()).hexdigest()
    assert out["api_key"] not in (stored.key_hash, stored.prefix, stored.label)


def test_create_firm_plain_output_and_unique_slugs(app: Flask, session) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["create-firm", "Same Name"])
    second = runner.invoke(args=["create-firm", "Same Name", "--json"])
    assert "slug same-name" in first.output
    assert json.loads(second.output)["slug"] == "same-name-2"


def test_create_api_key(app: Flask, session) -> None:
    runner = app.test_cli_runner()
    firm_id = json.loads(runner.invoke(args=["create-firm", "Keys LLP", "--json"]).output)["id"]
    result = runner.invoke(args=["create-api-key", str(firm_id), "--label", "billing"])
    assert result.exit_code == 0
    assert authenticate(result.output.strip()).label == "billing"


def test_create_api_key_for_missing_firm_fails_cleanly(app: Flask, session) -> None:
    result = app.test_cli_runner().invoke(args=["create-api-key", "999999"])
    assert result.exit_code != 0


def test_demo_seeds_once_and_prints_a_working_link_and_key(app: Flask, session, client) -> None:
    runner = app.test_cli_runner()
    # when the demo runs twice
    first = runner.invoke(args=["demo"])
    second = runner.invoke(args=["demo"])
    # then the data is there once
    assert first.exit_code == 0, first.output
    assert session.scalar(select(Firm).where(Firm.name == "Hartwell & Ames LLP"))
    assert len(session.scalars(select(Client)).all()) == 2
    assert len(session.scalars(select(Matter)).all()) == 3
    assert len(session.scalars(select(Invoice)).all()) == 6
    assert len(session.scalars(select(TrustEntry)).all()) == 4
    # and only the newest printed key works
    keys = [
        line.split(": ")[-1]
        for out in (first, second)
        for line in out.output.splitlines()
        if "API key" in line
    ]
    assert len(keys) == 2
    assert authenticate(keys[1])
    assert session.scalars(select(APIKey).where(APIKey.revoked_at.is_not(None))).all()
    link_line = next(line for line in second.output.splitlines() if "Client link" in line)
    assert "/l/" in link_line


def test_config_table_lists_every_setting(app: Flask) -> None:
    out = app.test_cli_runner().invoke(args=["config-table"]).output
    for name in ("SECRET_KEY", "DATABASE_URL", "BASE_URL", "LINK_MAX_AGE_SECONDS"):
        assert f"`PORTAL_{name}`" in out


def test_readme_configuration_table_is_current(app: Flask) -> None:
    from portal.db import PROJECT_ROOT

    table = app.test_cli_runner().invoke(args=["config-table"]).output.strip()
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert table in readme, (
        "README's configuration table is stale: paste `flask --app portal config-table`"
    )


def test_revoke_api_key_by_prefix(app: Flask, session, client) -> None:
    runner = app.test_cli_runner()
    out = json.loads(runner.invoke(args=["create-firm", "Revoke LLP", "--json"]).output)
    key = out["api_key"]
    assert (
        client.get("/api/v1/clients", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    listed = runner.invoke(args=["list-api-keys", str(out["id"])]).output
    assert key[:10] in listed and "active" in listed and key not in listed
    result = runner.invoke(args=["revoke-api-key", key[:10]])
    assert result.exit_code == 0, result.output
    assert (
        client.get("/api/v1/clients", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    )
    assert "revoked" in runner.invoke(args=["list-api-keys", str(out["id"])]).output
    assert runner.invoke(args=["revoke-api-key", "mp_nothing"]).exit_code != 0


def test_the_demo_has_a_saved_payer_a_phone_payment_charges_at_once(
    app: Flask, session, client
) -> None:
    """A newcomer signs in with the printed password and takes María's INV-1041 by phone with
    Luis's saved card: no card typed, no consent to read (kept for future payments)."""
    out = app.test_cli_runner().invoke(args=["demo"]).output
    password = re.search(r"password (\S+) \(new each run\)", out)
    assert password, out
    payer = session.scalars(select(Payer).where(Payer.name == "Luis Delgado")).one()
    (method,) = payer.methods
    assert (method.brand, method.last4) == ("visa", "4242")
    assert method.consent is not None
    assert method.consent.scope is ConsentScope.FUTURE_FIRM_INITIATED
    assert (
        payer.client_id
        == session.scalars(select(Client).where(Client.name == "María Delgado")).one().id
    )
    inv = session.scalars(select(Invoice).where(Invoice.number == "INV-1041")).one()

    console = Console(client)
    console.sign_in("admin@hartwell-ames.example", password.group(1))
    _tick(console, _search(console, client="Delgado"), [f"invoice-{inv.id}"])
    page = _preview(console, {f"invoice-{inv.id}": "2400.00"})
    choice = f"{payer.public_id}:{method.public_id}"
    assert f'value="{choice}"' in page
    form = {**_carried(page, "pay"), "payer_choice": choice, "receipts": "", "ar_note": ""}
    form.pop("csrf_token")
    answer = console.post(
        "/console/make-payment/pay", form, form_page="/console/make-payment/allocate"
    )

    assert answer.status_code == 303, answer.get_data(as_text=True)
    payment = session.scalars(select(Payment)).one()
    assert payment_status(payment) == "succeeded"
    assert payment.total_minor == 240_000 and payment.payer_name == "Luis Delgado"

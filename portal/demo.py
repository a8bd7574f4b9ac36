"""The demo firm the Quickstart serves: a few clients, matters, invoices and trust entries, and
a saved payer with a sandbox card kept for future payments."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from portal import clock
from portal.audit.services import CLI
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import db
from portal.firms import services as firms
from portal.firms.models import APIKey, Firm
from portal.gateways.base import Instrument
from portal.i18n import language_name
from portal.ledger import services as ledger
from portal.links import services as links
from portal.payers import services as payers
from portal.payers.models import ConsentHow, ConsentScope, MethodKind, SavedMethod
from portal.staff import passwords
from portal.staff.models import StaffRole, StaffUser

DEMO_FIRM = "Hartwell & Ames LLP"
QUICKSTART_KEY_LABEL = "quickstart"
DEMO_ADMIN_EMAIL = "admin@hartwell-ames.example"
#: María's saved payer: her brother, who pays her bills by phone with a card kept on file.
DEMO_PAYER_NAME = "Luis Delgado"
DEMO_PAYER_EMAIL = "luis@example.com"


@dataclass(frozen=True)
class QuickstartCredentials:
    firm_id: int
    firm_name: str
    client_name: str
    #: The language the client's record asks for ("Español"): the page opens in it.
    client_language: str
    link_url: str
    api_key: str
    console_email: str
    #: A fresh random password for the demo's admin (stored hashed, so printed only now).
    console_password: str
    #: Whether the admin has an authenticator (then the code is asked, as for anyone).
    console_has_mfa: bool


def seed() -> Firm:
    """Create the demo firm with two clients, three matters, invoices and trust history.

    María's matter 2024-001 has two invoices open past due (INV-1041, INV-1042) and sits below
    its trust minimum: the console's Make a payment takes a phone payment for both invoices and
    a trust deposit in one search, one allocation and one pay step."""
    firm = firms.create_firm(DEMO_FIRM)
    firm.brand_colour = "#1d4f91"
    today = clock.today()
    day = dt.timedelta(days=1)

    maria = Client(
        firm_id=firm.id,
        external_id="C-1001",
        name="María Delgado",
        email="maria@example.com",
        locale="es_US",
    )
    acme = Client(
        firm_id=firm.id,
        external_id="C-1002",
        name="Acme Widgets, Inc.",
        email="ap@acme.example",
        locale="en_US",
    )
    db.session.add_all([maria, acme])
    db.session.flush()
    matters = [
        Matter(
            firm_id=firm.id,
            external_id="M-2024-001",
            client_id=maria.id,
            number="2024-001",
            title="Delgado v. Northside Realty",
            currency="USD",
            trust_minimum_minor=500_000,
        ),
        Matter(
            firm_id=firm.id,
            external_id="M-2024-002",
            client_id=maria.id,
            number="2024-002",
            title="Estate of Rafael Delgado",
            currency="USD",
        ),
        Matter(
            firm_id=firm.id,
            external_id="M-2024-010",
            client_id=acme.id,
            number="2024-010",
            title="Acme Widgets: supplier contract review",
            currency="USD",
        ),
    ]
    db.session.add_all(matters)
    db.session.flush()
    invoices = [
        (matters[0], "INV-1041", -75, -45, 240_000, 240_000),
        (matters[0], "INV-1042", -40, -10, 187_550, 87_550),
        (matters[0], "INV-1043", -5, 25, 92_500, 92_500),
        (matters[0], "INV-1030", -120, -90, 150_000, 0),
        (matters[1], "INV-1050", -20, 10, 64_000, 64_000),
        (matters[2], "INV-2001", -30, 0, 310_000, 310_000),
    ]
    for matter, number, issued, due, total, balance in invoices:
        db.session.add(
            Invoice(
                firm_id=firm.id,
                external_id=number,
                matter_id=matter.id,
                number=number,
                issued_on=today + issued * day,
                due_on=today + due * day,
                currency="USD",
                total_minor=total,
                balance_due_minor=balance,
                description="Professional services rendered",
                status=InvoiceStatus.PAID if balance == 0 else InvoiceStatus.OPEN,
                paid_at=clock.now() - 80 * day if balance == 0 else None,
            )
        )
    ledger.append_back_office_entries(
        firm_id=firm.id,
        entries=[
            ledger.BackOfficeEntry(
                ledger.TrustEntryRecord(
                    external_id=ext,
                    matter=matter.external_id,
                    posted_on=today - days_ago * day,
                    amount_minor=amount,
                    currency="USD",
                    description=text,
                ),
                matter_id=matter.id,
            )
            for matter, ext, days_ago, amount, text in (
                (matters[0], "T-1", 90, 1_000_000, "Initial retainer"),
                (matters[0], "T-2", 60, -450_000, "Transfer to operating: INV-1020"),
                (matters[0], "T-3", 30, -230_000, "Filing fees and expert deposit"),
                (matters[1], "T-4", 15, 250_000, "Retainer for probate"),
            )
        ],
    )
    db.session.flush()
    return firm


def seed_saved_payer(firm_id: int) -> SavedMethod:
    """Give María (C-1001) a saved payer, Luis Delgado, with the sandbox Visa 4242 kept with his
    consent to future payments the firm starts (commits, through the payers' use cases; the
    sandbox keeps the card as a token, as Stripe would). Make a payment's step 4a offers it
    at once: no card typed, no consent to read."""
    client = db.session.scalar(
        select(Client).where(Client.firm_id == firm_id, Client.external_id == "C-1001")
    )
    if client is None:
        raise RuntimeError("the demo firm has no client C-1001")
    payer = payers.payer_once(
        firm_id=firm_id, client=client, name=DEMO_PAYER_NAME, email=DEMO_PAYER_EMAIL
    )
    firm_name = firms.firm_by_id(firm_id).name
    return payers.save_method(
        payer=payer,
        kind=MethodKind.CARD,
        instrument=Instrument(
            card_number="4242424242424242",
            card_expiry=f"12/{(clock.today().year + 4) % 100:02d}",
            card_cvc="123",
        ),
        currency="USD",
        consent=payers.ConsentGiven(
            words=(
                f"I authorize {firm_name} to keep this payment method on file and to charge it "
                f"for future payments {firm_name} initiates until I ask for it to be removed."
            ),
            how=ConsentHow.STAFF_PHONE,
            scope=ConsentScope.FUTURE_FIRM_INITIATED,
        ),
    )


def quickstart_credentials() -> QuickstartCredentials:
    """Issue a fresh API key (revoking the last run's) and a 24-hour link for the demo client.

    Keys are stored hashed, so the only way to print a working one is to make a new one.
    """
    firm = db.session.scalar(select(Firm).order_by(Firm.id).limit(1))
    if firm is None:
        raise RuntimeError("no firm in the database")
    for old in db.session.scalars(
        select(APIKey).where(APIKey.firm_id == firm.id, APIKey.label == QUICKSTART_KEY_LABEL)
    ):
        firms.revoke_api_key(old, actor=CLI)
    issued = firms.issue_api_key(firm, label=QUICKSTART_KEY_LABEL, actor=CLI)
    client = db.session.scalar(
        select(Client).where(Client.firm_id == firm.id).order_by(Client.id).limit(1)
    )
    if client is None:
        raise RuntimeError("the demo firm has no client")
    link = links.issue_link(firm_id=firm.id, client=client)
    admin, password = _demo_admin(firm)
    return QuickstartCredentials(
        firm_id=firm.id,
        firm_name=firm.name,
        client_name=client.name,
        client_language=language_name(client.locale or "en_US"),
        link_url=links.url_for_link(link),
        api_key=issued.secret,
        console_email=admin.email,
        console_password=password,
        console_has_mfa=admin.has_mfa,
    )


def _demo_admin(firm: Firm) -> tuple[StaffUser, str]:
    """The demo firm's console admin, with a new random password (unlocked, reactivated)."""
    password = "demo-" + secrets.token_urlsafe(12)
    admin = db.session.scalar(select(StaffUser).where(StaffUser.email == DEMO_ADMIN_EMAIL))
    if admin is None:
        admin = StaffUser(
            firm_id=firm.id, email=DEMO_ADMIN_EMAIL, role=StaffRole.ADMIN, created_at=clock.now()
        )
        db.session.add(admin)
    admin.password_hash = passwords.hash_password(password)
    admin.activated_at = admin.activated_at or clock.now()
    admin.deactivated_at = None
    admin.failed_attempts = 0
    admin.locked_until = None
    db.session.flush()
    return admin, password

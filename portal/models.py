"""Every feature's models in one import, so Alembic and the tests see the whole schema."""

from portal.audit.models import AuditEvent
from portal.billing.models import Client, Invoice, InvoiceStatus, Matter
from portal.db import Base
from portal.firms.models import APIKey, Firm, MerchantAccount, MerchantAccountKind
from portal.gateways.models import InboundEvent, SandboxIntent, SandboxSavedMethod
from portal.ledger.models import TrustEntry
from portal.links.models import Link, LinkDelivery, link_matters
from portal.mail.models import OutgoingEmail
from portal.notifications.models import NotificationChoice, NotifiedEvent
from portal.payers.models import Consent, Payer, PayerClient, SavedMethod, SavedToken
from portal.payments.models import (
    Allocation,
    Charge,
    ChargeEvent,
    FailedAttempt,
    Payment,
    PaymentFlag,
    Refund,
    ReviewedBasket,
)
from portal.postings.models import Delivery, DeliveryAttempt, OutboundMessage, WebhookEndpoint
from portal.staff.models import RecoveryCode, StaffSession, StaffToken, StaffUser
from portal.trust_requests.models import TrustRequest

__all__ = [
    "APIKey",
    "Allocation",
    "AuditEvent",
    "Base",
    "Charge",
    "ChargeEvent",
    "Client",
    "Consent",
    "Delivery",
    "DeliveryAttempt",
    "FailedAttempt",
    "Firm",
    "InboundEvent",
    "Invoice",
    "InvoiceStatus",
    "Link",
    "LinkDelivery",
    "Matter",
    "MerchantAccount",
    "MerchantAccountKind",
    "NotificationChoice",
    "NotifiedEvent",
    "OutboundMessage",
    "OutgoingEmail",
    "Payer",
    "PayerClient",
    "Payment",
    "PaymentFlag",
    "RecoveryCode",
    "Refund",
    "ReviewedBasket",
    "SandboxIntent",
    "SandboxSavedMethod",
    "SavedMethod",
    "SavedToken",
    "StaffSession",
    "StaffToken",
    "StaffUser",
    "TrustEntry",
    "TrustRequest",
    "WebhookEndpoint",
    "link_matters",
]

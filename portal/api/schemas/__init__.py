"""The API's request and response shapes as pydantic models, one module per resource.

The same classes validate requests and describe them in the OpenAPI document. Request models
are strict: an amount is a JSON integer of minor units (10.0, "100" and true are refused), a
date is a "YYYY-MM-DD" string, and a field the model does not name is an error rather than
silently dropped. Checks that need the calling firm (its currencies, its link lifetime, the
sync cap) read them from the validation context the route registry passes in.

`common` holds the field types, `Input`/`Output`, cursors and list queries and the problem
details; every other module one resource. Everything is re-exported here, so routes import
from `portal.api.schemas`.
"""

from portal.api.schemas.clients import (
    ClientIn,
    ClientOut,
    ClientPage,
    ClientSyncIn,
)
from portal.api.schemas.common import (
    MAX_PAGE_SIZE,
    Amount,
    Currency,
    Cursor,
    Description,
    ExternalId,
    ExternalIdPath,
    Input,
    IsoDate,
    ListQuery,
    LocaleName,
    Name,
    Number,
    Output,
    PaymentId,
    Problem,
    ProblemError,
    SignedAmount,
    Title,
    decode_cursor,
    encode_cursor,
)
from portal.api.schemas.firm import (
    FirmOut,
    FirmPatchIn,
)
from portal.api.schemas.invoices import (
    InvoiceIn,
    InvoiceOut,
    InvoicePage,
    InvoiceSyncIn,
)
from portal.api.schemas.links import (
    EmailText,
    LinkCreatedOut,
    LinkDeliveryOut,
    LinkIn,
    LinkOut,
    LinkPath,
    LinkSendIn,
    Signature,
)
from portal.api.schemas.matters import (
    MatterIn,
    MatterOut,
    MatterPage,
    MatterSyncIn,
)
from portal.api.schemas.payments import (
    AllocationOut,
    ChargeEventOut,
    ChargeOut,
    IdempotencyKeyHeader,
    InstrumentOut,
    MandateOut,
    MerchantAccountOut,
    PaymentFlagOut,
    PaymentListQuery,
    PaymentOut,
    PaymentPage,
    PaymentPath,
    RefundIn,
    RefundLineIn,
    RefundOut,
    RefundsOut,
)
from portal.api.schemas.sync import (
    OutcomeCounts,
    RecordOutcome,
    SyncCounts,
    SyncIn,
    SyncOut,
    SyncResults,
    valid_part_of_sync,
)
from portal.api.schemas.trust_entries import (
    TrustEntryIn,
    TrustEntryOut,
    TrustEntryPage,
    TrustEntrySyncIn,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "AllocationOut",
    "Amount",
    "ChargeEventOut",
    "ChargeOut",
    "ClientIn",
    "ClientOut",
    "ClientPage",
    "ClientSyncIn",
    "Currency",
    "Cursor",
    "Description",
    "EmailText",
    "ExternalId",
    "ExternalIdPath",
    "FirmOut",
    "FirmPatchIn",
    "IdempotencyKeyHeader",
    "Input",
    "InstrumentOut",
    "InvoiceIn",
    "InvoiceOut",
    "InvoicePage",
    "InvoiceSyncIn",
    "IsoDate",
    "LinkCreatedOut",
    "LinkDeliveryOut",
    "LinkIn",
    "LinkOut",
    "LinkPath",
    "LinkSendIn",
    "ListQuery",
    "LocaleName",
    "MandateOut",
    "MatterIn",
    "MatterOut",
    "MatterPage",
    "MatterSyncIn",
    "MerchantAccountOut",
    "Name",
    "Number",
    "OutcomeCounts",
    "Output",
    "PaymentFlagOut",
    "PaymentId",
    "PaymentListQuery",
    "PaymentOut",
    "PaymentPage",
    "PaymentPath",
    "Problem",
    "ProblemError",
    "RecordOutcome",
    "RefundIn",
    "RefundLineIn",
    "RefundOut",
    "RefundsOut",
    "Signature",
    "SignedAmount",
    "SyncCounts",
    "SyncIn",
    "SyncOut",
    "SyncResults",
    "Title",
    "TrustEntryIn",
    "TrustEntryOut",
    "TrustEntryPage",
    "TrustEntrySyncIn",
    "decode_cursor",
    "encode_cursor",
    "valid_part_of_sync",
]

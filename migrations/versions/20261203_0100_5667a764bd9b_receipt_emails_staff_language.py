"""Receipt addresses get their own column (`payments.receipt_emails`, a JSON list) so that
`payments.payer_email` is always one address (or None).

Staff typing several receipt addresses in the console used to have them stored comma-joined in
`payer_email`, from where they reached postings' `payer.email` and the Payment Manager's CSV.
Staff payments' existing `payer_email` values were the typed receipt addresses, not the
payer's own: they move to `receipt_emails` and `payer_email` becomes NULL for them.

Each staff user gets the language of the emails the console sends them
(`staff_users.language`, a supported locale such as "es_US"; NULL: the portal's default).

Revision ID: 5667a764bd9b
Revises: 38abd69f907e
Create Date: 2026-12-03 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5667a764bd9b"
down_revision = "38abd69f907e"
branch_labels = None
depends_on = None

_payments = sa.table(
    "payments",
    sa.column("id", sa.Integer),
    sa.column("source", sa.String),
    sa.column("payer_email", sa.String),
    sa.column("receipt_emails", sa.JSON),
)


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt_emails", sa.JSON(), nullable=True))
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
    bind = op.get_bind()
    staff = bind.execute(
        sa.select(_payments.c.id, _payments.c.payer_email).where(_payments.c.source == "staff")
    ).all()
    for payment_id, joined in staff:
        addresses = [part.strip() for part in (joined or "").split(",") if part.strip()]
        bind.execute(
            _payments.update()
            .where(_payments.c.id == payment_id)
            .values(receipt_emails=addresses, payer_email=None)
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users", schema=None) as batch_op:
        batch_op.drop_column("language")
    bind = op.get_bind()
    staff = bind.execute(
        sa.select(_payments.c.id, _payments.c.receipt_emails).where(
            _payments.c.receipt_emails.is_not(None)
        )
    ).all()
    for payment_id, addresses in staff:
        bind.execute(
            _payments.update()
            .where(_payments.c.id == payment_id)
            .values(payer_email=", ".join(addresses or [])[:254] or None)
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("receipt_emails")

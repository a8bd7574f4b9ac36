"""Payment numbers (`payments.number`, "P-7K3Q-9M2X"): the short reference receipts show
first, random and unique within the firm (`uq_payments_firm_id_number`).

Existing payments get a number here: the column is added nullable, filled row by row with
numbers drawn as portal.payments.numbers draws them (a collision within a firm draws again),
then made NOT NULL and unique. The data step sits in this revision because the column cannot
be NOT NULL before it is filled, and no release ever runs with it half made.

Revision ID: b77c93183aeb
Revises: e5f8a2c4b917
Create Date: 2026-12-02 10:40:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "b77c93183aeb"
down_revision = "e5f8a2c4b917"
branch_labels = None
depends_on = None

# Copied, not imported: a migration must keep working when the application's code changes.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"


def _number() -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"P-{body[:4]}-{body[4:]}"


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.String(length=16), nullable=True))
    connection = op.get_bind()
    payments = sa.table(
        "payments",
        sa.column("id", sa.Integer),
        sa.column("firm_id", sa.Integer),
        sa.column("number", sa.String),
    )
    taken: set[tuple[int, str]] = set()
    rows = connection.execute(sa.select(payments.c.id, payments.c.firm_id).order_by(payments.c.id))
    for payment_id, firm_id in rows.all():
        number = _number()
        while (firm_id, number) in taken:
            number = _number()
        taken.add((firm_id, number))
        connection.execute(
            payments.update().where(payments.c.id == payment_id).values(number=number)
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_payments_firm_id_number"), ["firm_id", "number"]
        )


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_payments_firm_id_number"), type_="unique")
        batch_op.drop_column("number")

"""Public ids for merchant accounts ("ma_…"), so the API never shows their sequential ids.

Added nullable, filled for every existing account, then made required and unique.

Revision ID: e5b2c8d4f1a6
Revises: e5b2c7a9d104
Create Date: 2026-12-02 10:10:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "e5b2c8d4f1a6"
down_revision = "e5b2c7a9d104"
branch_labels = None
depends_on = None


def _public_id() -> str:
    # The same shape as portal.ids.new_public_id(12, "ma_"), written out so this revision
    # keeps working whatever later becomes of the application code.
    while True:
        candidate = secrets.token_urlsafe(12)
        if candidate[0] not in "-_":
            return "ma_" + candidate


def upgrade() -> None:
    with op.batch_alter_table("merchant_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    accounts = sa.table("merchant_accounts", sa.column("id"), sa.column("public_id"))
    bind = op.get_bind()
    for (account_id,) in bind.execute(sa.select(accounts.c.id)).all():
        bind.execute(
            accounts.update().where(accounts.c.id == account_id).values(public_id=_public_id())
        )
    with op.batch_alter_table("merchant_accounts", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_merchant_accounts_public_id"), ["public_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("merchant_accounts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_merchant_accounts_public_id"), type_="unique")
        batch_op.drop_column("public_id")

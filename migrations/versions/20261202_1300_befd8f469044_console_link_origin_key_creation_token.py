"""A link delivery may come from the console (`link_deliveries.origin` = console): the check
constraint on the column learns the new value. An API key keeps the one-time token of the
console form that created it (`api_keys.creation_token`, unique), so the form sent again makes
no second key.

Revision ID: befd8f469044
Revises: 072fef52c056
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "befd8f469044"
down_revision = "072fef52c056"
branch_labels = None
depends_on = None

NAME = "delivery_origin"


def _allow(values: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table("link_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_link_deliveries_delivery_origin"), type_="check")
        batch_op.create_check_constraint(NAME, f"origin IN ({listed})")


def upgrade() -> None:
    _allow(("api", "fresh_link", "console"))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creation_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_api_keys_creation_token"), ["creation_token"]
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_api_keys_creation_token"), type_="unique")
        batch_op.drop_column("creation_token")
    op.execute("UPDATE link_deliveries SET origin = 'api' WHERE origin = 'console'")
    _allow(("api", "fresh_link"))

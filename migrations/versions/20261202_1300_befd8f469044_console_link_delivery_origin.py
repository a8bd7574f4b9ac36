"""A link delivery may come from the console (`link_deliveries.origin` = console): the check
constraint on the column learns the new value.

Revision ID: befd8f469044
Revises: b77c93183aeb
Create Date: 2026-12-02 13:00:00
"""

from __future__ import annotations

from alembic import op

revision = "befd8f469044"
down_revision = "b77c93183aeb"
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


def downgrade() -> None:
    op.execute("UPDATE link_deliveries SET origin = 'api' WHERE origin = 'console'")
    _allow(("api", "fresh_link"))

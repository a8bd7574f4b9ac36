"""A link keeps the one-time token of the console form that issued it (`links.creation_token`,
unique), so Send for payment sent twice (a double click, a reload) issues and emails one link.

Revision ID: 38abd69f907e
Revises: 858926e3c1cf
Create Date: 2026-12-02 14:08:01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "38abd69f907e"
down_revision = "858926e3c1cf"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creation_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_links_creation_token"), ["creation_token"])


def downgrade() -> None:
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_links_creation_token"), type_="unique")
        batch_op.drop_column("creation_token")

"""Staff notifications: each user's choice per kind (`notification_choices`; no row is the
role's default) and the events already emailed about (`notified_events`, one key once).

Revision ID: 072fef52c056
Revises: b77c93183aeb
Create Date: 2026-12-02 12:45:56.486059
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "072fef52c056"
down_revision = "b77c93183aeb"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notified_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("firm_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["firm_id"],
            ["firms.id"],
            name=op.f("fk_notified_events_firm_id_firms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notified_events")),
        sa.UniqueConstraint(
            "firm_id", "event_key", name=op.f("uq_notified_events_firm_id_event_key")
        ),
    )
    op.create_table(
        "notification_choices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_notification_choices_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_choices")),
        sa.UniqueConstraint(
            "staff_user_id", "kind", name=op.f("uq_notification_choices_staff_user_id_kind")
        ),
    )


def downgrade() -> None:
    op.drop_table("notification_choices")
    op.drop_table("notified_events")

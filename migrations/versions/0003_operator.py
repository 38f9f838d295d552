"""operator: indexes for the dashboard, metrics and failure list

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 12:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        # Signups per day and the newest signups: a range over created_at.
        batch_op.create_index("ix_subscribers_created", ["created_at"], unique=False)
        # Subscribers per status and how many ever confirmed, from the index alone.
        batch_op.create_index(
            "ix_subscribers_status_confirmed", ["status", "confirmed_at"], unique=False
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        # Sent per step, counted by send time (campaigns/tallies.py); failed per step.
        batch_op.create_index(
            "ix_deliveries_sent",
            ["sent_at", "step"],
            unique=False,
            postgresql_where=sa.text("status = 'sent'"),
            sqlite_where=sa.text("status = 'sent'"),
        )
        batch_op.create_index(
            "ix_deliveries_failed",
            ["step"],
            unique=False,
            postgresql_where=sa.text("status = 'failed'"),
            sqlite_where=sa.text("status = 'failed'"),
        )
        # The latest failures with their reasons.
        batch_op.create_index(
            "ix_deliveries_errors",
            ["updated_at"],
            unique=False,
            postgresql_where=sa.text("last_error IS NOT NULL"),
            sqlite_where=sa.text("last_error IS NOT NULL"),
        )


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_errors")
        batch_op.drop_index("ix_deliveries_failed")
        batch_op.drop_index("ix_deliveries_sent")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_status_confirmed")
        batch_op.drop_index("ix_subscribers_created")

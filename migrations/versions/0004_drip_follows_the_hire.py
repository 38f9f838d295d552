"""the drip follows the hire: what the reader said of their job; held and skipped notes

Revision ID: 0004
Revises: 0007
Create Date: 2026-12-02 09:00:00

Subscribers gain `job_status` (unknown, looking, not_changing, started). Until now the
drip was anchored on confirmation when a reader gave no start date. Those readers become
`unknown` with no anchor, and their unsent after-hire notes are held: nothing is sent
because of this migration, and a held note goes only once the reader gives a date. A
reader who gave a date keeps it and their anchor. Check-ins (kind `checkin`) are written
by the first `drip tick` or `drip sync` after the upgrade, from the sequence file.
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("job_status", sa.String(length=16), nullable=False, server_default="unknown")
        )
        batch_op.create_index("ix_subscribers_job_status", ["job_status"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "uq_deliveries_checkin_step",
            ["subscriber_id", "step"],
            unique=True,
            postgresql_where=sa.text("kind = 'checkin'"),
            sqlite_where=sa.text("kind = 'checkin'"),
        )

    op.execute("UPDATE subscribers SET job_status = 'started' WHERE started_job_on IS NOT NULL")
    # Waiting rows only: one a worker is sending now finishes, and is recorded, as it was.
    op.execute(
        "UPDATE deliveries SET status = 'held', lease_until = NULL, job_id = NULL "
        "WHERE kind = 'drip' AND status IN ('scheduled', 'queued') AND subscriber_id IN "
        "(SELECT id FROM subscribers WHERE started_job_on IS NULL)"
    )
    op.execute("UPDATE subscribers SET anchor_at = NULL WHERE started_job_on IS NULL")


def downgrade():
    # Back to anchoring on confirmation, as the code before this revision did.
    op.execute(
        "UPDATE subscribers SET anchor_at = confirmed_at "
        "WHERE anchor_at IS NULL AND confirmed_at IS NOT NULL"
    )
    op.execute("UPDATE deliveries SET status = 'scheduled' WHERE status = 'held'")
    op.execute("UPDATE deliveries SET status = 'cancelled' WHERE status = 'skipped'")
    op.execute("DELETE FROM deliveries WHERE kind = 'checkin'")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_deliveries_checkin_step",
            postgresql_where=sa.text("kind = 'checkin'"),
            sqlite_where=sa.text("kind = 'checkin'"),
        )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_job_status")
        batch_op.drop_column("job_status")

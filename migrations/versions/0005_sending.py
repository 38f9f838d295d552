"""sending: complaints and hard bounces for the reputation guard; maybe-sent deliveries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mail_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_events")),
    )
    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        # The guard counts each kind over a rolling window: a range over `at`.
        batch_op.create_index("ix_mail_events_at", ["at", "kind"], unique=False)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("maybe_sent_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("maybe_sent_at")
    with op.batch_alter_table("mail_events", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_events_at")
    op.drop_table("mail_events")

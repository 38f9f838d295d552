"""consents.note: how a reader the coach added by hand asked to join

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 10:00:00

A consent the coach records (source `operator`) has no browser, page or form behind it:
the note says how the reader asked ("met at the March workshop, asked in person").
"""

from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("note", sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("note")

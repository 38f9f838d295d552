"""consent page: the page a signup came from, without query or fragment, indexed

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00

"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# subscribers/rows.py page_of(), in SQL: cut at "#", then at "?", keep 512 characters.
_NO_FRAGMENT = "substr(page_url, 1, instr(page_url || '#', '#') - 1)"
BACKFILL = {
    "postgresql": (
        "UPDATE consents SET page = NULLIF(left(split_part(split_part(page_url, '#', 1), '?', 1), 512), '') "
        "WHERE page_url IS NOT NULL AND page_url <> ''"
    ),
    "sqlite": (
        f"UPDATE consents SET page = NULLIF(substr(substr({_NO_FRAGMENT}, 1, "
        f"instr({_NO_FRAGMENT} || '?', '?') - 1), 1, 512), '') "
        "WHERE page_url IS NOT NULL AND page_url <> ''"
    ),
}


def upgrade():
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("page", sa.String(length=512), nullable=True))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    with op.batch_alter_table("consents", schema=None) as batch_op:
        # Signups and confirmations per page, from the index alone.
        batch_op.create_index("ix_consents_page", ["page", "confirmed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_index("ix_consents_page")
        batch_op.drop_column("page")

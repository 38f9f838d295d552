"""consent history: when and why each consent ended; confirmation emails counted per address

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-02 11:00:00

"""

import hashlib

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None

# What the code before wrote, read as well as it can be: an unsubscribed reader's consents
# ended when they unsubscribed, a bounced reader's when the row last changed. A complaint
# left the reader unsubscribed and the address suppressed as "complaint": found below by
# the address's hash (subscribers/suppression.py suppression_hash).
END_CONSENTS = (
    "UPDATE consents SET "
    "left_at = (SELECT COALESCE(s.unsubscribed_at, s.updated_at) FROM subscribers s "
    "WHERE s.id = consents.subscriber_id), "
    "left_reason = (SELECT CASE s.status WHEN 'bounced' THEN 'bounce' ELSE 'unsubscribe' END "
    "FROM subscribers s WHERE s.id = consents.subscriber_id) "
    "WHERE left_at IS NULL AND subscriber_id IN "
    "(SELECT id FROM subscribers WHERE status IN ('unsubscribed', 'bounced'))"
)
# Confirmation emails already sent to addresses that never confirmed: every worksheet email
# they were given (each asked them to confirm), so a victim of list-bombing is not owed more.
COUNT_REQUESTS = (
    "UPDATE subscribers SET confirm_requests = (SELECT COUNT(*) FROM deliveries d "
    "WHERE d.subscriber_id = subscribers.id AND d.kind = 'worksheet' "
    "AND d.status <> 'cancelled') WHERE confirmed_at IS NULL"
)
CHUNK = 500


def _mark_complaints(conn) -> None:
    complained = set(
        conn.execute(sa.text("SELECT email_hash FROM suppressions WHERE reason = 'complaint'"))
        .scalars()
        .all()
    )
    if not complained:
        return
    rows = conn.execute(sa.text("SELECT id, email_key FROM subscribers WHERE status = 'unsubscribed'"))
    ids = [i for i, key in rows if hashlib.sha256(key.encode("utf-8")).hexdigest() in complained]
    mark = sa.text(
        "UPDATE consents SET left_reason = 'complaint' "
        "WHERE left_reason = 'unsubscribe' AND subscriber_id IN :ids"
    ).bindparams(sa.bindparam("ids", expanding=True))
    for i in range(0, len(ids), CHUNK):
        conn.execute(mark, {"ids": ids[i : i + CHUNK]})


def upgrade():
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirm_requests", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("left_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("left_reason", sa.String(length=16), nullable=True))
    conn = op.get_bind()
    conn.execute(sa.text(END_CONSENTS))
    _mark_complaints(conn)
    conn.execute(sa.text(COUNT_REQUESTS))


def downgrade():
    # The code before knows the worksheet email only: a sent one stays in the history as
    # such, and one not yet sent is cancelled by its send job (a worksheet email never goes
    # to an unsubscribed reader there).
    op.execute("UPDATE deliveries SET kind = 'worksheet' WHERE kind = 'reconfirm'")
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("left_reason")
        batch_op.drop_column("left_at")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("confirm_requests")

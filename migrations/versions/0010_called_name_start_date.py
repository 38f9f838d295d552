"""called_name: the name a reader asked to be greeted by; started_job_on becomes a Date

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:30:00

The start date was ISO text (String(10)); every value written was `date.isoformat()` or
an importer's checked ISO date. PostgreSQL converts it in place (a value that is not a
date, were there one, becomes NULL rather than failing the upgrade). SQLite stores a Date
as that same ISO text, so the values are copied as they are into a DATE column: a batch
type change would CAST them to a number.
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ISO = r"^\d{4}-\d{2}-\d{2}$"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _copy_into(type_) -> None:
    """SQLite: started_job_on as `type_`, its stored text kept byte for byte."""
    op.add_column("subscribers", sa.Column("started_job_on_new", type_, nullable=True))
    op.execute("UPDATE subscribers SET started_job_on_new = started_job_on")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("started_job_on")
        batch_op.alter_column("started_job_on_new", new_column_name="started_job_on")


def upgrade():
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("called_name", sa.String(length=100), nullable=True))
    if _sqlite():
        _copy_into(sa.Date())
        return
    op.execute(
        "ALTER TABLE subscribers ALTER COLUMN started_job_on TYPE DATE USING "
        f"CASE WHEN started_job_on ~ '{ISO}' THEN started_job_on::date END"
    )


def downgrade():
    if _sqlite():
        _copy_into(sa.String(length=10))
    else:
        op.execute(
            "ALTER TABLE subscribers ALTER COLUMN started_job_on TYPE VARCHAR(10) USING "
            "to_char(started_job_on, 'YYYY-MM-DD')"
        )
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("called_name")

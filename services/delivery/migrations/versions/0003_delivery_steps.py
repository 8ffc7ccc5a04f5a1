"""decision steps (herald explain)

What delivery decided for each send, and why: one row per (workspace,
profile, time) of a unit of work, its steps as JSON. Keyed so one user's rows are one range;
WITHOUT ROWID on SQLite, so a row is written once (the key is the table). The (workspace, at)
index serves the retention prune.

Revision ID: delivery_0003
Revises: delivery_0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'delivery_0003'
down_revision: Union[str, None] = 'delivery_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'delivery_step',
        sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('steps', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id', 'profile_id', 'at', 'seq', name='pk_delivery_step'),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table('delivery_step', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_step_at', ['workspace_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_step', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_step_at')
    op.drop_table('delivery_step')

"""cap slots

The sends counted against each user's frequency caps, indexed by (workspace, profile, time) so a
cap check reads one index range per user.

Revision ID: delivery_0004
Revises: delivery_0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'delivery_0004'
down_revision: Union[str, None] = 'delivery_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'cap_slot',
        sa.Column('send_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('send_id'),
    )
    with op.batch_alter_table('cap_slot', schema=None) as batch_op:
        batch_op.create_index('ix_cap_slot_user', ['workspace_id', 'profile_id', 'at'], unique=False)
        batch_op.create_index('ix_cap_slot_at', ['at'], unique=False)


def downgrade() -> None:
    op.drop_table('cap_slot')

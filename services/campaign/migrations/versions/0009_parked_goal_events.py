"""parked goal events

A goal event of a user whose send is `sending` (confirmed; delivery's MarkSent not here yet),
kept until MarkSent says when the provider accepted the message, so that a goal reached in the
first seconds counts however late MarkSent arrives.

Revision ID: campaign_0009
Revises: campaign_0008
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'campaign_0009'
down_revision: Union[str, None] = 'campaign_0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'parked_goal_event',
        sa.Column('send_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('goal_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('event_name', sqlmodel.sql.sqltypes.AutoString(length=520), nullable=False),
        sa.Column('event_time', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('parked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('send_id', 'goal_name', 'event_id'),
    )
    with op.batch_alter_table('parked_goal_event', schema=None) as batch_op:
        batch_op.create_index('ix_parked_goal_event_at', ['parked_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('parked_goal_event', schema=None) as batch_op:
        batch_op.drop_index('ix_parked_goal_event_at')
    op.drop_table('parked_goal_event')

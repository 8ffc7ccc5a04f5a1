"""indexes for the console's campaign reads

The campaign list counts each campaign's sent sends and the chart reads them by day: the
(campaign_id, status) index becomes (campaign_id, status, sent_at), which answers both without
reading a row (sent_at is set in the same update as the status, so writes cost the same). Goal
conversions get a partial index holding converted windows only, by (campaign, goal, time).

Revision ID: campaign_0007
Revises: campaign_0006
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'campaign_0007'
down_revision: Union[str, None] = 'campaign_0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.create_index('ix_send_campaign_status_sent', ['campaign_id', 'status', 'sent_at'], unique=False)
        batch_op.drop_index('ix_send_campaign_status')
    with op.batch_alter_table('goal_window', schema=None) as batch_op:
        batch_op.create_index('ix_goal_window_converted', ['campaign_id', 'goal_name', 'converted_at'], unique=False,
                              sqlite_where=sa.text("converted_at IS NOT NULL"),
                              postgresql_where=sa.text("converted_at IS NOT NULL"))


def downgrade() -> None:
    with op.batch_alter_table('goal_window', schema=None) as batch_op:
        batch_op.drop_index('ix_goal_window_converted')
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.create_index('ix_send_campaign_status', ['campaign_id', 'status'], unique=False)
        batch_op.drop_index('ix_send_campaign_status_sent')

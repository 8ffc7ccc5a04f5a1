"""one profile index on send

(campaign, profile, triggered_at) for re-entry and (workspace, profile) for a user's sends
were two indexes, each written at a random place for every send. One
(workspace, profile, campaign, triggered_at) index serves both.

Revision ID: campaign_0003
Revises: campaign_0002
"""
from typing import Sequence, Union

from alembic import op


revision: str = 'campaign_0003'
down_revision: Union[str, None] = 'campaign_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_campaign_profile')
        batch_op.drop_index('ix_send_workspace_profile')
        batch_op.create_index('ix_send_profile_campaign', ['workspace_id', 'profile_id', 'campaign_id', 'triggered_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_profile_campaign')
        batch_op.create_index('ix_send_workspace_profile', ['workspace_id', 'profile_id'], unique=False)
        batch_op.create_index('ix_send_campaign_profile', ['campaign_id', 'profile_id', 'triggered_at'], unique=False)

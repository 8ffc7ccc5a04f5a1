"""send indexes without status

The campaign and profile indexes of `send` held its status, so each of a send's three status
changes on its way out (claimed, sending, sent) moved its entries in both: random page writes
that grew with the number of pending sends. Keyed by creation time instead, they are written
once, when the send is scheduled, and serve `sends list` in its own order.

Revision ID: delivery_0002
Revises: delivery_0001
"""
from typing import Sequence, Union

from alembic import op


revision: str = 'delivery_0002'
down_revision: Union[str, None] = 'delivery_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_campaign')
        batch_op.drop_index('ix_send_profile')
        batch_op.create_index('ix_send_campaign_created', ['campaign_id', 'created_at'], unique=False)
        batch_op.create_index('ix_send_profile_created', ['profile_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_profile_created')
        batch_op.drop_index('ix_send_campaign_created')
        batch_op.create_index('ix_send_profile', ['profile_id', 'status'], unique=False)
        batch_op.create_index('ix_send_campaign', ['campaign_id', 'status'], unique=False)

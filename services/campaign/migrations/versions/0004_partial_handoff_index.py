"""partial hand-off index on send

(handed_off, status) held every send, and each send moved in it twice: when delivery
acknowledged it and again at every status change. The hand-over loop only ever looks for
sends not acknowledged yet, so the index now holds only those, by creation time.

Revision ID: campaign_0004
Revises: campaign_0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'campaign_0004'
down_revision: Union[str, None] = 'campaign_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_handoff')
        batch_op.create_index('ix_send_handoff_pending', ['created_at'], unique=False,
                              sqlite_where=sa.text("handed_off = 0"), postgresql_where=sa.text("handed_off = false"))


def downgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_handoff_pending')
        batch_op.create_index('ix_send_handoff', ['handed_off', 'status'], unique=False)

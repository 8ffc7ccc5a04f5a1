"""the workspace's sends newest first: an index on (workspace_id, created_at, id)

The console's Sends page lists a workspace's sends newest first, paged by (created_at, id).

Revision ID: delivery_0005
Revises: delivery_0004
"""
from typing import Sequence, Union

from alembic import op


revision: str = 'delivery_0005'
down_revision: Union[str, None] = 'delivery_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_send_workspace_created', 'send', ['workspace_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_send_workspace_created', table_name='send')

"""workspace settings

Each workspace's settings file (frequency caps, quiet hours, global control group) as applied
with `herald settings apply`.

Revision ID: campaign_0005
Revises: campaign_0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'campaign_0005'
down_revision: Union[str, None] = 'campaign_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'workspace_settings',
        sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('source_yaml', sa.Text(), nullable=False),
        sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id'),
    )


def downgrade() -> None:
    op.drop_table('workspace_settings')

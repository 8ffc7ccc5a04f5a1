"""partial index of sends with an A/B variant

Campaign stats counted sends grouped by status, outcome, control group and variant together,
which read every send of the campaign. They now count by status from the (campaign_id, status,
sent_at) index alone and read the variants from this index, which holds only the sends of
variants (none for a campaign that never had any).

Revision ID: campaign_0010
Revises: campaign_0009
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = 'campaign_0010'
down_revision: Union[str, None] = 'campaign_0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.create_index('ix_send_campaign_variant', ['campaign_id', 'variant', 'status'], unique=False,
                              sqlite_where=sa.text("variant != ''"), postgresql_where=sa.text("variant != ''"))


def downgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_index('ix_send_campaign_variant')

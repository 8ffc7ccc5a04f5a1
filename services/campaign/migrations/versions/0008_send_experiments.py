"""experiments on sends: the control group and the A/B variant of each send

Decided when the send is made (a sticky hash of campaign and user) and read by Confirm and the
stats. Existing sends are treatment with no variant.

Revision ID: campaign_0008
Revises: campaign_0007
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'campaign_0008'
down_revision: Union[str, None] = 'campaign_0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.add_column(sa.Column('control', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('variant', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False,
                                      server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('send', schema=None) as batch_op:
        batch_op.drop_column('variant')
        batch_op.drop_column('control')

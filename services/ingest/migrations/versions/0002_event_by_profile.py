"""a user's events in their own table, built in batches

The (workspace, profile, timestamp) index of `event` was written at a random place for every
event recorded, which cost recording more than the event row itself. `event_by_profile`
holds the same key, filled behind the event log in sorted batches; `profile_indexed_event_id`
says how far it has got. Existing events are copied over here.

Revision ID: ingest_0002
Revises: ingest_0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'ingest_0002'
down_revision: Union[str, None] = 'ingest_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table('event_by_profile',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('timestamp', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('event_id', EVENT_ID, autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'profile_id', 'timestamp', 'event_id'),
    sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO event_by_profile (workspace_id, profile_id, timestamp, event_id) "
        "SELECT workspace_id, profile_id, timestamp, id FROM event"
    )
    op.execute(
        "INSERT INTO ingest_state (key, value) "
        "SELECT 'profile_indexed_event_id', value FROM ingest_state WHERE key = 'last_event_id'"
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('ix_event_profile_time')


def downgrade() -> None:
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_profile_time', ['workspace_id', 'profile_id', 'timestamp'], unique=False)
    op.execute("DELETE FROM ingest_state WHERE key = 'profile_indexed_event_id'")
    op.drop_table('event_by_profile')

"""an index on the event log by name, workspace and id: an event's latest occurrences

The console's event page lists the latest events of one name; without this index that is a
walk back through the whole log for a rare name.

Revision ID: ingest_0004
Revises: ingest_0003
"""
from typing import Sequence, Union

from alembic import op


revision: str = 'ingest_0004'
down_revision: Union[str, None] = 'ingest_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_event_name', 'event', ['name', 'workspace_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_event_name', table_name='event')

"""decision_step: a table with a rowid on SQLite

WITHOUT ROWID made the primary key the table, so each row (a JSON list of a unit of work's
steps, often a few kB) went into the key's B-tree at its user's place: a write dirtied a random
leaf page per row, and rows past about 1 kB spilled into overflow pages. With a rowid, rows are
appended and only the key's small entry lands at the user's place: the same INSERTs wrote about
half the WAL bytes and took half the CPU (bench/campaigns.py, explain_overhead_ratio). The key
and the (workspace, at) index are unchanged; PostgreSQL tables were never WITHOUT ROWID.

Revision ID: campaign_0012
Revises: campaign_0011
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'campaign_0012'
down_revision: Union[str, None] = 'campaign_0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TABLE = 'decision_step'
COLUMNS = 'workspace_id, profile_id, at, seq, steps'


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.create_table(
        f'{TABLE}_rebuilt',
        sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('steps', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id', 'profile_id', 'at', 'seq', name=f'pk_{TABLE}'),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f'INSERT INTO {TABLE}_rebuilt ({COLUMNS}) SELECT {COLUMNS} FROM {TABLE}')
    op.drop_table(TABLE)
    op.rename_table(f'{TABLE}_rebuilt', TABLE)
    op.create_index(f'ix_{TABLE}_at', TABLE, ['workspace_id', 'at'], unique=False)


def upgrade() -> None:
    _rebuild(with_rowid=True)


def downgrade() -> None:
    _rebuild(with_rowid=False)

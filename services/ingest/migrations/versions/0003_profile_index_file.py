"""the per-user index and its cursor in a database file of their own (SQLite)

SQLite has one writer per file, and each batch of `event_by_profile` held the event log's
writer for a quarter to a third of a second. On SQLite the index and its cursor now live in the
attached `profile_index` database (ingest-profile-index.db), which recording never writes;
on PostgreSQL the index stays where it is. On both, the cursor moves from `ingest_state`
to `event_by_profile_state`, beside the index, so the indexer's transactions write nothing
of the event log's.

Revision ID: ingest_0003
Revises: ingest_0002
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'ingest_0003'
down_revision: Union[str, None] = 'ingest_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ATTACHED = "profile_index"
OLD_CURSOR = "profile_indexed_event_id"
CURSOR = "indexed_event_id"


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _create_index_table(schema: str | None) -> None:
    op.create_table('event_by_profile',
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('profile_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('timestamp', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('event_id', EVENT_ID, autoincrement=False, nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'profile_id', 'timestamp', 'event_id'),
    schema=schema,
    sqlite_with_rowid=False,
    )


def upgrade() -> None:
    sqlite = _on_sqlite()
    schema = ATTACHED if sqlite else None
    if sqlite:
        # The attached file is new at this revision; anything in it is left from an earlier
        # data folder whose event log is gone.
        op.execute(f"DROP TABLE IF EXISTS {ATTACHED}.event_by_profile")
        op.execute(f"DROP TABLE IF EXISTS {ATTACHED}.event_by_profile_state")
    op.create_table('event_by_profile_state',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key'),
    schema=schema,
    )
    state = f"{ATTACHED}.event_by_profile_state" if sqlite else "event_by_profile_state"
    op.execute(
        f"INSERT INTO {state} (key, value) SELECT '{CURSOR}', value FROM ingest_state WHERE key = '{OLD_CURSOR}'"
    )
    op.execute(f"DELETE FROM ingest_state WHERE key = '{OLD_CURSOR}'")
    if sqlite:
        _create_index_table(ATTACHED)
        op.execute(
            f"INSERT INTO {ATTACHED}.event_by_profile (workspace_id, profile_id, timestamp, event_id) "
            "SELECT workspace_id, profile_id, timestamp, event_id FROM main.event_by_profile"
        )
        op.execute("DROP TABLE main.event_by_profile")


def downgrade() -> None:
    sqlite = _on_sqlite()
    state = f"{ATTACHED}.event_by_profile_state" if sqlite else "event_by_profile_state"
    op.execute(f"INSERT INTO ingest_state (key, value) SELECT '{OLD_CURSOR}', value FROM {state} WHERE key = '{CURSOR}'")
    if sqlite:
        _create_index_table(None)
        op.execute(
            "INSERT INTO main.event_by_profile (workspace_id, profile_id, timestamp, event_id) "
            f"SELECT workspace_id, profile_id, timestamp, event_id FROM {ATTACHED}.event_by_profile"
        )
        op.execute(f"DROP TABLE {ATTACHED}.event_by_profile")
    op.drop_table('event_by_profile_state', schema=ATTACHED if sqlite else None)

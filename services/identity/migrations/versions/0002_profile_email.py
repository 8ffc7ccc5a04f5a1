"""a profile's email, lower-cased and indexed: the console finds users by email

`profile.email` is the `email` attribute trimmed and lower-cased, written with the attributes
(store.save_book); existing profiles get theirs here.

Revision ID: identity_0002
Revises: identity_0001
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'identity_0002'
down_revision: Union[str, None] = 'identity_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BATCH = 5000


def _email(attributes) -> str | None:
    if isinstance(attributes, str):
        attributes = json.loads(attributes)
    value = (attributes or {}).get("email")
    if not isinstance(value, str):
        return None
    return value.strip().lower()[:400] or None


def upgrade() -> None:
    op.add_column('profile', sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True))
    bind = op.get_bind()
    profile = sa.table('profile', sa.column('id', sa.String), sa.column('attributes', sa.JSON),
                       sa.column('email', sa.String))
    last = ""
    while True:
        rows = bind.execute(
            sa.select(profile.c.id, profile.c.attributes).where(profile.c.id > last).order_by(profile.c.id).limit(BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1][0]
        updates = [{"b_id": profile_id, "b_email": _email(attributes)} for profile_id, attributes in rows]
        updates = [u for u in updates if u["b_email"]]
        if updates:
            bind.execute(
                profile.update().where(profile.c.id == sa.bindparam("b_id")).values(email=sa.bindparam("b_email")),
                updates,
            )
    op.create_index('ix_profile_email', 'profile', ['workspace_id', 'email'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_profile_email', table_name='profile')
    op.drop_column('profile', 'email')

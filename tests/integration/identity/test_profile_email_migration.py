"""identity migration 0002: existing profiles get their email (trimmed, lower-cased) for search."""

from __future__ import annotations

from datetime import UTC, datetime

from herald_common.db import create_service_engine, migrate
from sqlalchemy import text


def test_existing_profiles_get_their_email_when_migrated(settings):
    engine = create_service_engine(settings, "identity")
    try:
        migrate(engine, "identity", "identity_0001")
        now = datetime.now(UTC)
        with engine.begin() as connection:
            for profile_id, attributes in (("p1", '{"email": " Ada@Example.COM "}'), ("p2", '{"email": 7}'),
                                           ("p3", "{}")):
                connection.execute(text(
                    "INSERT INTO profile (id, workspace_id, user_id, attributes, attribute_times, created_at, updated_at) "
                    "VALUES (:id, 'default', :id, :attributes, '{}', :now, :now)"
                ), {"id": profile_id, "attributes": attributes, "now": now})
        migrate(engine, "identity")
        with engine.connect() as connection:
            emails = dict(connection.execute(text("SELECT id, email FROM profile ORDER BY id")).all())
        assert emails == {"p1": "ada@example.com", "p2": None, "p3": None}
    finally:
        engine.dispose()

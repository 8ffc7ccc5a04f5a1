"""Writes a new Alembic migration for one service from the difference between its tables
and its migrations so far: python scripts/makemigration.py SERVICE "what changed"."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command
from herald_common.db import _alembic_config, create_service_engine, migrate
from herald_common.settings import Settings


def main(service: str, message: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), database_url=None)
        engine = create_service_engine(settings, service)
        migrate(engine, service)
        with engine.begin() as connection:
            config = _alembic_config(service, engine)
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

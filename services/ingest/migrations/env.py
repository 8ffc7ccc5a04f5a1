from herald_common.migrations import run
from herald_services.ingest.store import SQLITE_ATTACHED_TABLES, metadata

run(metadata, sqlite_attached=SQLITE_ATTACHED_TABLES)

from herald_common.migrations import run
from herald_services.ingest.store import PROFILE_INDEX_TABLES, metadata

run(metadata, sqlite_attached={"profile_index": PROFILE_INDEX_TABLES})

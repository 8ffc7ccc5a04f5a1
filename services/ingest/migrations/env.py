from herald_common.migrations import run
from herald_services.ingest.store import metadata

run(metadata)

from herald_common.migrations import run
from herald_services.identity.store import metadata

run(metadata)

from herald_common.migrations import run
from herald_services.delivery.store import metadata

run(metadata)

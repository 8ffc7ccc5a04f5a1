from herald_common.migrations import run
from herald_services.campaign.store import metadata

run(metadata)

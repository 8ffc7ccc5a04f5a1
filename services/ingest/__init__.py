"""ingest: the event log, the event catalogue, and the outbox that hands events to campaign."""

"""gateway: Segment's HTTP tracking API in front of identity and ingest; nothing durable."""

"""herald's services, one package each: identity, ingest, gateway (campaign and delivery follow)."""

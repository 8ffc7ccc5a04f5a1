"""The `herald` command: start the suite (`herald up`), migrate it, and read or manage its data."""

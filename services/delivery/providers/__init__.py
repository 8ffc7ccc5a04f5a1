"""delivery's providers: one per channel and address kind, each on its real protocol."""

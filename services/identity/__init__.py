"""identity: users, anonymous ids and aliases, attributes, devices; the Segment trait mapping."""

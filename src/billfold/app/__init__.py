"""Use cases: load facts through ports, call the pure core, persist, record events — in one transaction."""

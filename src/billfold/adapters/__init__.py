"""The real things behind the ports: database, clock, and later processors, tax, PDF, email."""

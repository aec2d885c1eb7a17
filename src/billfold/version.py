"""The one Stripe API version Billfold speaks (the version the locked ``stripe`` SDK sends); see ADR 0003."""

API_VERSION = "2026-10-28.endive"

"""The Stripe-compatible HTTP edge: wire decoding, auth, idempotency, errors, pagination, expand, routers."""

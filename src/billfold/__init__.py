"""Billfold: self-hosted subscription and usage billing, wire-compatible with Stripe's Billing API."""

__version__ = "0.1.0"

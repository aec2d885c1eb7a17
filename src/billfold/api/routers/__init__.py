"""One router per Stripe resource."""

from ..framework import StripeRouter
from . import customers

ROUTERS: list[StripeRouter] = [customers.router]

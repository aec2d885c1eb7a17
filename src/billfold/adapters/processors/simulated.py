"""A built-in processor that behaves like Stripe's test payment methods, for test mode and the demo.

https://docs.stripe.com/testing#cards — ``pm_card_visa`` succeeds, ``pm_card_chargeDeclined`` is declined, ...
"""

from __future__ import annotations

from billfold.app.ports import ChargeResult, RefundResult
from billfold.ids import new_id

DECLINES: dict[str, tuple[str, str]] = {
    "pm_card_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_visa_chargeDeclined": ("generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("insufficient_funds", "Your card has insufficient funds."),
    "pm_card_visa_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_chargeDeclinedExpiredCard": ("expired_card", "Your card has expired."),
    "pm_card_chargeCustomerFail": ("generic_decline", "Your card was declined."),
}
SUCCEEDS = ("pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_us", "pm_usBankAccount")


class SimulatedProcessor:
    def charge(
        self, *, payment_method: str, amount: int, currency: str, customer: str, idempotency_key: str
    ) -> ChargeResult:
        if payment_method in DECLINES:
            code, message = DECLINES[payment_method]
            return ChargeResult(False, decline_code=code, message=message)
        if payment_method in SUCCEEDS or payment_method.startswith("pm_card_"):
            return ChargeResult(True, charge_id=new_id("charge"))
        return ChargeResult(
            False,
            decline_code="payment_method_unknown",
            message=f"No such payment method: '{payment_method}'",
        )

    def refund(self, *, charge_id: str, amount: int, currency: str, idempotency_key: str) -> RefundResult:
        if not charge_id.startswith("ch_") or amount <= 0:
            return RefundResult(False, message=f"Charge {charge_id} cannot be refunded by {amount}.")
        return RefundResult(True, refund_id=new_id("refund"))

"""Plain-language explanations: each sentence is built from a line's lineage and must match the amounts."""

from __future__ import annotations

import calendar
from decimal import Decimal

import pytest

from billfold.core.discounts import Coupon, Discount
from billfold.core.explain import explain_invoice, explain_line, format_amount, format_period
from billfold.core.invoice import (
    InvoiceDraft,
    InvoiceFacts,
    LineInput,
    PendingItemLine,
    ProrationFraction,
    SubscriptionItemLine,
    generate,
)
from billfold.core.pricing import PriceSpec, Tier, TransformQuantity
from billfold.core.tax import TaxRate

DAY = 86_400
TIMES, DASH, MINUS = "\u00d7", "\u2013", "\u2212"


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return calendar.timegm((year, month, day, hour, minute, 0))


OCT1, NOV1, NOV14, DEC1 = ts(2025, 10, 1), ts(2025, 11, 1), ts(2025, 11, 14), ts(2025, 12, 1)
ADVANCED = PriceSpec("per_unit", unit_amount_decimal=Decimal(9900))
ADV20 = Discount("di_adv20", Coupon("ADV20", percent_off=Decimal(20), applies_to_products=("prod_advanced",)))
DE_VAT = TaxRate("txr_de", Decimal(19), inclusive=False, display_name="VAT")
UK_VAT = TaxRate("txr_uk", Decimal(20), inclusive=True, display_name="VAT")


def draft_of(*lines: LineInput, **kwargs: object) -> InvoiceDraft:
    fields: dict[str, object] = {
        "currency": "usd",
        "customer_balance": 0,
        "period_start": NOV1,
        "period_end": DEC1,
        "lines": lines,
    }
    fields.update(kwargs)
    return generate(InvoiceFacts(**fields), as_of=NOV1)  # type: ignore[arg-type]


def typeset(text: str) -> str:
    """Write the expected sentences in ASCII: 'x' between spaces, ' - ' in ranges, '-' before amounts."""
    return text.replace(" x ", f" {TIMES} ").replace("~", DASH).replace("(-)", MINUS)


def test_the_prorated_discounted_taxed_seat_line() -> None:
    """The example support staff should be able to read: 17 of 31 days of 20 Advanced seats."""
    line = SubscriptionItemLine(
        "si_adv",
        "price_adv",
        "prod_advanced",
        "Advanced seat",
        ADVANCED,
        20,
        NOV14,
        DEC1,
        quantity_source="seats",
        proration=True,
        proration_fraction=ProrationFraction(17 * DAY, 31 * DAY),
        discounts=(ADV20,),
        tax_rates=(DE_VAT,),
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "20 x Advanced seat at 99.00 USD x 17/31 of the period (Nov 14 ~ Dec 1) = 1,085.81 USD; "
        "20% off (coupon ADV20) (-)217.16 USD; VAT 19% (exclusive) +165.04 USD"
    )


def test_a_full_period_seat_line() -> None:
    line = SubscriptionItemLine(
        "si_adv", "price_adv", "prod_advanced", "Advanced seat", ADVANCED, 3, NOV1, DEC1
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "3 x Advanced seat at 99.00 USD for Nov 1 ~ Dec 1 = 297.00 USD"
    )


def test_a_credit_for_unused_time() -> None:
    line = SubscriptionItemLine(
        "si_adv",
        "price_adv",
        "prod_advanced",
        "Advanced seat",
        ADVANCED,
        5,
        NOV14,
        DEC1,
        proration=True,
        proration_fraction=ProrationFraction(17 * DAY, 30 * DAY),
        credit=True,
        discounts=(ADV20,),
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "Credit for unused time: 5 x Advanced seat at 99.00 USD x 17/30 of the period (Nov 14 ~ Dec 1) = "
        "(-)280.50 USD; 20% off (coupon ADV20) +56.10 USD"
    )


def test_metered_usage_in_arrears() -> None:
    line = SubscriptionItemLine(
        "si_ai",
        "price_ai",
        "prod_ai",
        "AI resolution",
        PriceSpec("per_unit", unit_amount_decimal=Decimal(99)),
        1234,
        OCT1,
        NOV1,
        usage_type="metered",
        quantity_source="meter mtr_x sum of 1,234 events",
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "1,234 x AI resolution at 0.99 USD (meter mtr_x sum of 1,234 events), used Oct 1 ~ Nov 1, "
        "billed in arrears = 1,221.66 USD"
    )


def test_graduated_tiers_show_their_working() -> None:
    spec = PriceSpec(
        "tiered",
        tiers_mode="graduated",
        tiers=(
            Tier(500, Decimal(0), Decimal(9900)),
            Tier(5000, Decimal(10)),
            Tier(None, Decimal(5)),
        ),
    )
    line = SubscriptionItemLine(
        "si_m", "price_m", "prod_m", "Proactive messages", spec, 6000, OCT1, NOV1, usage_type="metered"
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "6,000 x Proactive messages (graduated: 1~500: flat 99.00 USD + 501~5,000: 4,500 x 0.10 USD + "
        "5,001~6,000: 1,000 x 0.05 USD), used Oct 1 ~ Nov 1, billed in arrears = 599.00 USD"
    )


def test_volume_tier_and_package_and_sub_cent_prices() -> None:
    volume = PriceSpec(
        "tiered", tiers_mode="volume", tiers=(Tier(1000, Decimal(5)), Tier(None, Decimal("2.5")))
    )
    package = PriceSpec(
        "per_unit", unit_amount_decimal=Decimal(500), transform_quantity=TransformQuantity(100, "up")
    )
    lines = (
        SubscriptionItemLine("si_v", "p_v", "prod_v", "SMS", volume, 2000, OCT1, NOV1, usage_type="metered"),
        SubscriptionItemLine("si_p", "p_p", "prod_p", "Pack", package, 1234, NOV1, DEC1),
    )
    volume_line, package_line = draft_of(*lines).lines
    assert explain_line(volume_line, "usd") == typeset(
        "2,000 x SMS (volume tier 1,001~\u221e: 2,000 x 0.025 USD), used Oct 1 ~ Nov 1, billed in arrears "
        "= 50.00 USD"
    )
    assert explain_line(package_line, "usd") == typeset(
        "1,234 x Pack, billed as 13 packages at 5.00 USD for Nov 1 ~ Dec 1 = 65.00 USD"
    )


def test_inclusive_tax_and_an_invoice_level_amount_off() -> None:
    lines = (
        PendingItemLine("ii_1", "Onboarding", 30000, NOV1, DEC1, product_id="prod_onb"),
        PendingItemLine("ii_2", "Training", 10000, NOV1, DEC1, product_id="prod_train"),
    )
    welcome = Discount("di_w", Coupon("WELCOME", amount_off=4000, currency="gbp"))
    draft = draft_of(*lines, currency="gbp", invoice_discounts=(welcome,), default_tax_rates=(UK_VAT,))
    assert explain_line(draft.lines[0], "gbp") == typeset(
        "Onboarding (Nov 1 ~ Dec 1) = 300.00 GBP; 40.00 GBP off the invoice (coupon WELCOME), this line's "
        "share (-)30.00 GBP; VAT 20% (inclusive) 45.00 GBP included"
    )


def test_a_pending_proration_item_with_its_fraction() -> None:
    line = PendingItemLine(
        "ii_p",
        "Remaining time on Expert seats after Nov 14",
        15753,
        NOV14,
        DEC1,
        quantity=2,
        unit_amount_decimal=Decimal("7876.5"),
        proration=True,
        proration_fraction=ProrationFraction(17 * DAY, 30 * DAY),
    )
    (drafted,) = draft_of(line).lines
    assert explain_line(drafted, "usd") == typeset(
        "Remaining time on Expert seats after Nov 14: 2 x 78.765 USD, 17/30 of the period (Nov 14 ~ Dec 1) "
        "= 157.53 USD"
    )


def test_explain_invoice_lists_lines_then_totals() -> None:
    line = SubscriptionItemLine(
        "si_adv",
        "price_adv",
        "prod_advanced",
        "Advanced seat",
        ADVANCED,
        20,
        NOV1,
        DEC1,
        discounts=(ADV20,),
        tax_rates=(DE_VAT,),
    )
    spring = Discount("di_s", Coupon("SPRING", percent_off=Decimal(10)))
    draft = draft_of(line, customer_balance=-5000, invoice_discounts=(spring,))
    assert explain_invoice(draft, "usd") == (
        typeset(
            "20 x Advanced seat at 99.00 USD for Nov 1 ~ Dec 1 = 1,980.00 USD; 20% off (coupon ADV20) "
            "(-)396.00 USD; 10% off the invoice (coupon SPRING) (-)158.40 USD; VAT 19% (exclusive) +270.86 USD"
        ),
        "Subtotal 1,584.00 USD",
        typeset("Discount (coupon SPRING) (-)158.40 USD"),
        "VAT 19% (exclusive) on 1,425.60 USD: +270.86 USD",
        "Total 1,696.46 USD",
        "Customer balance before this invoice: 50.00 USD credit",
        typeset("Customer balance applied (-)50.00 USD"),
        "Amount due 1,646.46 USD",
        "Customer balance after this invoice: 0.00 USD",
    )


def test_explain_invoice_for_a_credit_invoice() -> None:
    line = PendingItemLine("ii_c", "Unused time on Pro", -1000, NOV14, DEC1, proration=True)
    draft = draft_of(line)
    assert explain_invoice(draft, "usd")[-3:] == (
        "Credit of 10.00 USD goes to the customer balance",
        "Amount due 0.00 USD",
        "Customer balance after this invoice: 10.00 USD credit",
    )


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (108581, "usd", "1,085.81 USD"),
        (-21716, "usd", f"{MINUS}217.16 USD"),
        (5, "usd", "0.05 USD"),
        (1234567, "jpy", "1,234,567 JPY"),
        (1234, "kwd", "1.234 KWD"),
        (0, "eur", "0.00 EUR"),
    ],
)
def test_format_amount(amount: int, currency: str, text: str) -> None:
    assert format_amount(amount, currency) == text


def test_format_period() -> None:
    assert format_period(NOV14, DEC1) == f"Nov 14 {DASH} Dec 1"
    assert format_period(ts(2025, 12, 15), ts(2026, 1, 15)) == f"Dec 15, 2025 {DASH} Jan 15, 2026"
    assert format_period(ts(2025, 11, 14, 9, 30), DEC1) == f"Nov 14 09:30 UTC {DASH} Dec 1"


def test_an_explanation_is_deterministic() -> None:
    line = SubscriptionItemLine(
        "si", "p", "prod_advanced", "Advanced seat", ADVANCED, 7, NOV1, DEC1, discounts=(ADV20,)
    )
    first, second = draft_of(line), draft_of(line)
    assert explain_invoice(first, "usd") == explain_invoice(second, "usd")

"""Tax decisions and tax amounts: Stripe's published examples, the reference customer's VAT, then properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billfold.core.invoice import InvoiceFacts, PendingItemLine, generate
from billfold.core.tax import MAX_TAX_RATES, LineTax, TaxRate, compute_line_taxes, tax_rates_for_line

DE_VAT = TaxRate("txr_de_vat", Decimal(19), inclusive=False, display_name="VAT", jurisdiction="DE")
UK_VAT = TaxRate("txr_uk_vat", Decimal(20), inclusive=True, display_name="VAT", jurisdiction="GB")


def one_line_invoice(amount: int, currency: str, rates: tuple[TaxRate, ...]) -> InvoiceFacts:
    line = PendingItemLine("ii_1", "Subscription", amount, period_start=0, period_end=86_400)
    return InvoiceFacts(currency, 0, 0, 86_400, (line,), default_tax_rates=rates)


# --- published examples ---------------------------------------------------------------------------


def test_inclusive_tax_is_inside_the_price() -> None:
    """https://support.stripe.com/questions/inclusive-and-exclusive-tax-options-in-the-tax-rate-api-and-stripe-tax:
    "if the price is €600 and you set an inclusive tax rate of 10%, the invoice total will still be €600."
    The tax inside is 600 - round(600 / 1.1) = 54.55 EUR.
    """
    rate = TaxRate("txr_10_incl", Decimal(10), inclusive=True)
    draft = generate(one_line_invoice(60000, "eur", (rate,)), as_of=0)
    assert draft.total == 60000
    assert draft.total_taxes[0].amount == 5455
    assert draft.total_taxes[0].taxable_amount == 54545
    assert draft.total_excluding_tax == 54545


def test_exclusive_tax_is_added_on_top() -> None:
    """Same page: "An exclusive tax rate of 10% on a €600 price will result in an invoice total of €660." """
    rate = TaxRate("txr_10_excl", Decimal(10), inclusive=False)
    draft = generate(one_line_invoice(60000, "eur", (rate,)), as_of=0)
    assert draft.total == 66000
    assert (draft.total_taxes[0].amount, draft.total_taxes[0].taxable_amount) == (6000, 60000)
    assert draft.subtotal == draft.total_excluding_tax == 60000


# --- the reference customer -----------------------------------------------------------------------


def test_german_vat_19_percent_exclusive_on_discounted_seats() -> None:
    """20 Advanced seats at 99 USD, 20% off = 1,584.00 USD; German VAT 19% on top = 300.96 USD."""
    (tax,) = compute_line_taxes(158400, (DE_VAT,))
    assert tax == LineTax("txr_de_vat", "VAT", Decimal(19), False, 158400, 30096, "DE")


def test_uk_vat_20_percent_inclusive() -> None:
    """20 seats at 79.00 GBP (a GBP price of ours) = 1,580.00 GBP with 20% VAT inside:
    net = round(158000 / 1.2) = 131,667 -> VAT 263.33 GBP, and net + VAT is the amount exactly."""
    (tax,) = compute_line_taxes(158000, (UK_VAT,))
    assert (tax.taxable_amount, tax.amount) == (131667, 26333)
    assert tax.taxable_amount + tax.amount == 158000


def test_inclusive_rounding_is_on_the_net() -> None:
    # 100.00 incl. 19%: net 84.0336... -> 84.03, tax 15.97 (not round(100 x 19/119) computed separately)
    (tax,) = compute_line_taxes(10000, (TaxRate("t", Decimal(19), inclusive=True),))
    assert (tax.taxable_amount, tax.amount) == (8403, 1597)


# --- several rates ---------------------------------------------------------------------------------


def test_several_exclusive_rates_are_independent_not_compounded() -> None:
    state = TaxRate("txr_state", Decimal("6.25"), inclusive=False, display_name="Sales tax")
    city = TaxRate("txr_city", Decimal("2.5"), inclusive=False, display_name="City tax")
    taxes = compute_line_taxes(10000, (state, city))
    assert [(t.tax_rate_id, t.taxable_amount, t.amount) for t in taxes] == [
        ("txr_state", 10000, 625),
        ("txr_city", 10000, 250),  # on 100.00, not on 106.25
    ]


def test_several_inclusive_rates_share_one_net() -> None:
    a = TaxRate("a", Decimal(10), inclusive=True)
    b = TaxRate("b", Decimal(10), inclusive=True)
    taxes = compute_line_taxes(12000, (a, b))
    assert [(t.taxable_amount, t.amount) for t in taxes] == [(10000, 1000), (10000, 1000)]


def test_inclusive_split_never_creates_or_loses_a_unit() -> None:
    a = TaxRate("a", Decimal(7), inclusive=True)
    b = TaxRate("b", Decimal(3), inclusive=True)
    taxes = compute_line_taxes(1001, (a, b))
    net = taxes[0].taxable_amount
    assert net == 910  # round(1001 / 1.10) = round(910.0)
    assert net + sum(t.amount for t in taxes) == 1001
    # 91 split 7:3 is 63.7 + 27.3: floors 63 + 27, the unit left goes to the larger remainder
    assert [t.amount for t in taxes] == [64, 27]


def test_exclusive_tax_on_top_of_an_inclusive_one_uses_the_net() -> None:
    vat = TaxRate("vat", Decimal(20), inclusive=True)
    levy = TaxRate("levy", Decimal(1), inclusive=False)
    vat_tax, levy_tax = compute_line_taxes(12000, (vat, levy))
    assert (vat_tax.taxable_amount, vat_tax.amount) == (10000, 2000)
    assert (levy_tax.taxable_amount, levy_tax.amount) == (10000, 100)


def test_zero_rate_is_zero_tax() -> None:
    reverse_charge = TaxRate("txr_rc", Decimal(0), inclusive=False, display_name="VAT reverse charge")
    (tax,) = compute_line_taxes(99900, (reverse_charge,))
    assert (tax.taxable_amount, tax.amount) == (99900, 0)


def test_no_rates_no_taxes() -> None:
    assert compute_line_taxes(12345, ()) == ()


# --- which rates apply -----------------------------------------------------------------------------


def test_line_rates_replace_the_default_rates() -> None:
    """https://docs.stripe.com/billing/invoices/tax-rates: "you can also set an item level tax rate that
    overrides the default tax rate"."""
    assert tax_rates_for_line((UK_VAT,), (DE_VAT,)) == (UK_VAT,)
    assert tax_rates_for_line((), (DE_VAT,)) == (DE_VAT,)
    assert tax_rates_for_line((), ()) == ()


def test_at_most_five_rates_per_line() -> None:
    rates = tuple(TaxRate(f"txr_{i}", Decimal(1), inclusive=False) for i in range(MAX_TAX_RATES + 1))
    assert len(tax_rates_for_line(rates[:MAX_TAX_RATES], ())) == MAX_TAX_RATES
    with pytest.raises(ValueError, match="at most 5"):
        tax_rates_for_line(rates, ())
    with pytest.raises(ValueError, match="at most 5"):
        tax_rates_for_line((), rates)


def test_a_rate_listed_twice_is_rejected() -> None:
    with pytest.raises(ValueError, match="twice"):
        tax_rates_for_line((DE_VAT, DE_VAT), ())


@pytest.mark.parametrize("percentage", [Decimal(-1), Decimal(101), Decimal("NaN"), Decimal("Infinity")])
def test_bad_percentages_are_rejected(percentage: Decimal) -> None:
    with pytest.raises(ValueError):
        TaxRate("t", percentage, inclusive=False)


def test_a_float_percentage_is_rejected() -> None:
    with pytest.raises(TypeError):
        TaxRate("t", 19, inclusive=False)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------

_percentages = st.decimals(min_value=0, max_value=100, places=4)
_rates = st.lists(
    st.builds(lambda pct, inclusive: (pct, inclusive), _percentages, st.booleans()), min_size=0, max_size=5
).map(lambda specs: tuple(TaxRate(f"txr_{i}", pct, incl) for i, (pct, incl) in enumerate(specs)))
_amounts = st.integers(min_value=-(10**12), max_value=10**12)


@given(_amounts, _rates)
def test_a_credit_is_taxed_as_the_mirror_image_of_the_debit(amount: int, rates: tuple[TaxRate, ...]) -> None:
    debit = compute_line_taxes(amount, rates)
    credit = compute_line_taxes(-amount, rates)
    assert [t.amount for t in credit] == [-t.amount for t in debit]
    assert [t.taxable_amount for t in credit] == [-t.taxable_amount for t in debit]


@given(st.integers(min_value=0, max_value=10**12), _rates)
def test_inclusive_taxes_and_net_add_up_to_the_amount(amount: int, rates: tuple[TaxRate, ...]) -> None:
    taxes = compute_line_taxes(amount, rates)
    inclusive = [t for t in taxes if t.inclusive]
    if inclusive:
        net = inclusive[0].taxable_amount
        assert all(t.taxable_amount == net for t in taxes)
        assert net + sum(t.amount for t in inclusive) == amount
        gross_pct = 100 + sum(t.percentage for t in inclusive)
        assert abs(Decimal(net) - Decimal(amount) * 100 / gross_pct) <= Decimal("0.5")
    for tax in taxes:
        assert 0 <= tax.amount <= max(amount, 0)
        if not tax.inclusive:
            # one rounding: within half a minor unit of the exact tax on the taxable amount
            assert abs(Decimal(tax.amount) - Decimal(tax.taxable_amount) * tax.percentage / 100) <= Decimal(
                "0.5"
            )

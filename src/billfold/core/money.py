"""Money: currencies, their minor units, and the one rounding rule.

Why this module exists: every amount Billfold stores or sends is an ``int`` count of a currency's
minor unit, exactly as Stripe's API does (1999 ``usd`` is 19.99 USD, 500 ``jpy`` is 500 JPY, 1234
``kwd`` is 1.234 KWD). Prices may be fractional (Stripe's ``unit_amount_decimal``), so
intermediate results are exact ``Decimal`` values in minor units. This module is the single place
where such an exact value becomes an ``int``.

The rounding rule (one rule, used everywhere):

* ``round_minor`` rounds an exact amount in minor units to the nearest integer, halves away from
  zero (``decimal.ROUND_HALF_UP``): 2.5 -> 3, -2.5 -> -3, 2.4999 -> 2.
* An amount is rounded **once, per line, at the end of the line's computation**: compute the whole
  line exactly (every tier, every unit, every flat fee), then round. Never round a part and add
  the rounded parts, and never accumulate rounded values into a running total that is rounded
  again. Totals are sums of already-rounded line amounts.
* When an integer amount must be split (a discount across lines, a credit across periods), use
  ``allocate``, which never creates or loses a minor unit.

Exponents are the ones Stripe's API uses, which differ from ISO 4217 in places: ``isk`` stays a
two-decimal currency on the wire although ISO 4217 gives it none, and ``mga`` is zero-decimal.
Source: https://docs.stripe.com/currencies (presentment list, zero-decimal, three-decimal and
special cases) and https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds
("ISK will remain a two-decimal currency in the Stripe API").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from fractions import Fraction
from types import MappingProxyType

__all__ = [
    "MAX_AMOUNT",
    "MAX_AMOUNT_IDR",
    "SUPPORTED_CURRENCIES",
    "UnknownCurrency",
    "allocate",
    "exact_context",
    "exponent",
    "is_supported_currency",
    "is_within_max_amount",
    "max_amount",
    "parse_major",
    "round_minor",
    "to_major_str",
]

# Stripe's amount limit: "up to eight digits for all other currencies (for example, a value of
# 99999999 for a charge of 999,999.99 USD)" and up to twelve digits for IDR.
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts
MAX_AMOUNT = 99_999_999
MAX_AMOUNT_IDR = 999_999_999_999

# Exact arithmetic on Decimal amounts: any operation that would have to round raises
# ``decimal.Inexact`` instead of silently dropping a digit (the default context keeps only 28).
_EXACT = Context(
    prec=1000, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow, Inexact]
)
# The rounding step itself: same precision, but rounding is the point, so Inexact is not a trap.
_ROUNDING = Context(prec=1000, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Stripe's lists, https://docs.stripe.com/currencies. UGX is listed as zero-decimal there, yet its
# "special cases" row says to send two decimals (500 for 5 UGX); we follow the zero-decimal list.
_ZERO_DECIMAL = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
_THREE_DECIMAL = _codes("bhd jod kwd omr tnd")
# Every other presentment currency on that page is two-decimal in the API, including isk, huf and
# twd, which Stripe only requires to be whole units (multiples of 100) in some flows.
_TWO_DECIMAL = _codes(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd
    cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd
    hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt
    mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub
    sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah uyu uzs wst xcd
    yer zar zmw
    """
)

_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        **dict.fromkeys(sorted(_TWO_DECIMAL), 2),
        **dict.fromkeys(sorted(_ZERO_DECIMAL), 0),
        **dict.fromkeys(sorted(_THREE_DECIMAL), 3),
    },
)

SUPPORTED_CURRENCIES: frozenset[str] = frozenset(_EXPONENTS)

_ONE = Decimal(1)


class UnknownCurrency(ValueError):
    """A currency code that is not one of Stripe's lowercase ISO 4217 codes we support."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown or unsupported currency: {code!r}")
        self.code = code


def exact_context() -> Context:
    """A fresh decimal context in which arithmetic on amounts is exact or raises ``decimal.Inexact``.

    Use it as ``with decimal.localcontext(exact_context()): ...`` around multiplications and sums
    of amounts, so no digit is ever lost silently before the one rounding step.
    """
    return _EXACT.copy()


def is_supported_currency(code: str) -> bool:
    """Whether ``code`` is a supported currency, spelled lowercase as Stripe spells it."""
    return code in _EXPONENTS


def exponent(code: str) -> int:
    """The number of minor-unit digits Stripe's API uses for ``code`` (``usd`` 2, ``jpy`` 0, ``kwd`` 3)."""
    try:
        return _EXPONENTS[code]
    except KeyError:
        raise UnknownCurrency(code) from None


def max_amount(code: str) -> int:
    """The largest amount, in minor units, Stripe accepts for one charge in ``code``."""
    exponent(code)  # raises UnknownCurrency for an unknown code
    return MAX_AMOUNT_IDR if code == "idr" else MAX_AMOUNT


def is_within_max_amount(amount: int, code: str) -> bool:
    """Whether ``abs(amount)`` fits Stripe's digit limit for ``code``."""
    return abs(amount) <= max_amount(code)


def round_minor(value: Decimal) -> int:
    """Round an exact amount in minor units to an ``int``, halves away from zero.

    This is the one rounding rule (see the module docstring): call it once per line, on the
    line's exact total.
    """
    if not value.is_finite():
        raise ValueError(f"cannot round a non-finite amount: {value!r}")
    return int(value.quantize(_ONE, rounding=ROUND_HALF_UP, context=_ROUNDING.copy()))


def to_major_str(amount: int, currency: str) -> str:
    """Format minor units as a plain decimal string in major units, without rounding.

    ``to_major_str(1999, 'usd') == '19.99'``, ``to_major_str(5, 'jpy') == '5'``,
    ``to_major_str(1234, 'kwd') == '1.234'``, ``to_major_str(-5, 'usd') == '-0.05'``.
    No grouping separators or symbols: that is presentation, done at the edge with a locale.
    """
    places = exponent(currency)
    sign = "-" if amount < 0 else ""
    digits = str(abs(amount))
    if places == 0:
        return sign + digits
    digits = digits.rjust(places + 1, "0")
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def parse_major(text: str, currency: str) -> int:
    """Parse a major-unit decimal string into minor units, exactly; the inverse of ``to_major_str``.

    Raises ``ValueError`` when the text is not a finite decimal or has more fractional digits than
    the currency has minor units (``parse_major('1.999', 'usd')``): that would need rounding, and
    rounding belongs to ``round_minor`` at a documented point, not to parsing.
    """
    places = exponent(currency)
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text!r}")
    minor = value.scaleb(places, context=_EXACT.copy())
    if minor != minor.to_integral_value():
        raise ValueError(f"{text!r} has more than {places} decimal places for {currency!r}")
    return int(minor)


def allocate(total: int, weights: Sequence[int | Decimal]) -> tuple[int, ...]:
    """Split ``total`` minor units in proportion to ``weights``, never creating or losing a unit.

    Largest-remainder method: each share starts at the floor of its exact proportional share,
    then the units left over go one each to the shares with the largest fractional remainders,
    ties broken by lower index. So ``sum(result) == total`` and every share is within one unit
    (strictly less than 1) of its exact share.

    * Weights must be finite and non-negative. If they are all zero, the total is split as if
      they were all equal.
    * A negative total is split symmetrically: ``allocate(-t, w) == tuple(-x for x in allocate(t, w))``.
    """
    if not weights:
        raise ValueError("allocate needs at least one weight")
    if total < 0:
        return tuple(-share for share in allocate(-total, weights))

    exact_weights: list[Fraction] = []
    for weight in weights:
        if isinstance(weight, Decimal) and not weight.is_finite():
            raise ValueError(f"weights must be finite, got {weight!r}")
        fraction = Fraction(weight)
        if fraction < 0:
            raise ValueError(f"weights must be non-negative, got {weight!r}")
        exact_weights.append(fraction)

    weight_sum = sum(exact_weights, Fraction(0))
    if weight_sum == 0:
        exact_weights = [Fraction(1)] * len(exact_weights)
        weight_sum = Fraction(len(exact_weights))

    exact_shares = [total * weight / weight_sum for weight in exact_weights]
    shares = [share.numerator // share.denominator for share in exact_shares]
    leftover = total - sum(shares)
    # Largest remainder first; on equal remainders the lower index wins (sort is stable).
    by_remainder = sorted(
        range(len(shares)),
        key=lambda index: exact_shares[index] - shares[index],
        reverse=True,
    )
    for index in by_remainder[:leftover]:
        shares[index] += 1
    return tuple(shares)

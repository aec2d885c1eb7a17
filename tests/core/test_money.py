"""Currencies, the rounding rule and allocation: published examples first, then properties."""

from __future__ import annotations

import ast
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import billfold.core
from billfold.core.money import (
    MAX_AMOUNT,
    MAX_AMOUNT_IDR,
    SUPPORTED_CURRENCIES,
    UnknownCurrency,
    allocate,
    exponent,
    is_supported_currency,
    is_within_max_amount,
    max_amount,
    parse_major,
    round_minor,
    to_major_str,
)


def _codes(text: str) -> list[str]:
    return text.split()


ZERO_DECIMAL = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
THREE_DECIMAL = _codes("bhd jod kwd omr tnd")


# --- currencies -----------------------------------------------------------------------------


@pytest.mark.parametrize("code", ZERO_DECIMAL)
def test_stripe_zero_decimal_currencies_have_exponent_0(code: str) -> None:
    """Stripe's zero-decimal list, https://docs.stripe.com/currencies#zero-decimal."""
    assert exponent(code) == 0


@pytest.mark.parametrize("code", THREE_DECIMAL)
def test_stripe_three_decimal_currencies_have_exponent_3(code: str) -> None:
    """Stripe's three-decimal list, https://docs.stripe.com/currencies#three-decimal."""
    assert exponent(code) == 3


@pytest.mark.parametrize("code", ["usd", "eur", "gbp", "aud", "brl", "cad", "inr", "idr", "huf", "twd"])
def test_common_currencies_have_exponent_2(code: str) -> None:
    assert exponent(code) == 2


def test_isk_stays_two_decimal_on_the_wire() -> None:
    """ISO 4217 gives ISK no minor unit, but "ISK will remain a two-decimal currency in the Stripe
    API, and an ISK amount of `100` will continue to represent 1 króna."
    https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds
    """
    assert exponent("isk") == 2
    assert to_major_str(100, "isk") == "1.00"


def test_supported_currencies_cover_stripes_presentment_list() -> None:
    assert {"usd", "eur", "gbp", "aud", "brl", "jpy", "krw", "kwd", "bhd"} <= SUPPORTED_CURRENCIES
    assert len(SUPPORTED_CURRENCIES) >= 135  # "more than 135 currencies", https://docs.stripe.com/currencies
    assert all(code == code.lower() and len(code) == 3 for code in SUPPORTED_CURRENCIES)
    assert all(is_supported_currency(code) for code in SUPPORTED_CURRENCIES)


@pytest.mark.parametrize("code", ["USD", "xxx", "", "usdd", "btc"])
def test_unknown_currency_is_rejected(code: str) -> None:
    assert not is_supported_currency(code)
    with pytest.raises(UnknownCurrency) as raised:
        exponent(code)
    assert isinstance(raised.value, ValueError)
    assert raised.value.code == code
    with pytest.raises(UnknownCurrency):
        to_major_str(1, code)


def test_max_amount_is_stripes_eight_digit_limit() -> None:
    """ "up to twelve digits for IDR ... and up to eight digits for all other currencies (for example,
    a value of 99999999 for a charge of 999,999.99 USD)". https://docs.stripe.com/currencies
    """
    assert MAX_AMOUNT == 99_999_999
    assert max_amount("usd") == MAX_AMOUNT
    assert max_amount("jpy") == MAX_AMOUNT
    assert max_amount("idr") == MAX_AMOUNT_IDR == 999_999_999_999
    assert to_major_str(MAX_AMOUNT, "usd") == "999999.99"
    assert is_within_max_amount(99_999_999, "usd")
    assert is_within_max_amount(-99_999_999, "usd")
    assert not is_within_max_amount(100_000_000, "usd")
    assert is_within_max_amount(100_000_000, "idr")
    with pytest.raises(UnknownCurrency):
        max_amount("xxx")


# --- the rounding rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.5", 3),
        ("-2.5", -3),
        ("0.5", 1),
        ("-0.5", -1),
        ("1.4999999999", 1),
        ("1.5000000001", 2),
        ("-1.4999999999", -1),
        ("0", 0),
        ("-0", 0),
        ("12.345", 12),
        ("1999.5", 2000),
        # 3.5 and 4.5 both round away from zero: half-up, not banker's rounding.
        ("3.5", 4),
        ("4.5", 5),
        # More digits than the default decimal context's 28 must not be lost before rounding.
        ("123456789012345678901234567890.5", 123456789012345678901234567891),
    ],
)
def test_round_minor_is_half_away_from_zero(value: str, expected: int) -> None:
    assert round_minor(Decimal(value)) == expected


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "sNaN"])
def test_round_minor_rejects_non_finite(value: str) -> None:
    with pytest.raises(ValueError):
        round_minor(Decimal(value))


@given(st.integers())
def test_round_minor_on_integers_is_the_identity(n: int) -> None:
    assert round_minor(Decimal(n)) == n


@given(st.decimals(allow_nan=False, allow_infinity=False, places=12))
def test_round_minor_is_within_half_a_unit(value: Decimal) -> None:
    rounded = round_minor(value)
    assert abs(Fraction(rounded) - Fraction(value)) <= Fraction(1, 2)
    assert (
        round_minor(value.copy_negate()) == -rounded
    )  # symmetric about zero (copy_negate is exact; unary minus rounds)


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1999, "usd", "19.99"),
        (5, "jpy", "5"),
        (1234, "kwd", "1.234"),
        (5, "usd", "0.05"),
        (-5, "usd", "-0.05"),
        (0, "usd", "0.00"),
        (0, "jpy", "0"),
        (-1500, "krw", "-1500"),
        (1, "bhd", "0.001"),
        (5120, "kwd", "5.120"),  # Stripe's example: 5.124 KWD sent as 5120 or 5130
        (1000, "eur", "10.00"),  # "1000 to charge 10 USD (or any other two-decimal currency)"
        (500, "isk", "5.00"),  # "to charge 5 ISK, provide an amount value of 500"
    ],
)
def test_to_major_str_examples(amount: int, currency: str, expected: str) -> None:
    """Examples from https://docs.stripe.com/currencies (minor units in API amounts)."""
    assert to_major_str(amount, currency) == expected


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(sorted(SUPPORTED_CURRENCIES)))
def test_to_major_str_round_trips(amount: int, currency: str) -> None:
    text = to_major_str(amount, currency)
    assert parse_major(text, currency) == amount
    assert Decimal(text) * (10 ** exponent(currency)) == amount
    places = exponent(currency)
    assert ("." in text) == (places > 0)
    if places:
        assert len(text.split(".")[1]) == places


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("19.99", "usd", 1999),
        ("19.9", "usd", 1990),
        ("19", "usd", 1900),
        ("500", "jpy", 500),
        ("1.234", "kwd", 1234),
    ],
)
def test_parse_major_examples(text: str, currency: str, expected: int) -> None:
    assert parse_major(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.999", "usd"), ("0.5", "jpy"), ("1.2345", "kwd"), ("abc", "usd"), ("NaN", "usd")],
)
def test_parse_major_refuses_to_round_or_guess(text: str, currency: str) -> None:
    with pytest.raises(ValueError):
        parse_major(text, currency)


# --- allocation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, [1, 1, 1], (34, 33, 33)),  # tie broken by index
        (-100, [1, 1, 1], (-34, -33, -33)),  # symmetric for negative totals
        (5, [0, 0], (3, 2)),  # all-zero weights split evenly
        (0, [1, 2, 3], (0, 0, 0)),
        (10, [1, 0, 1], (5, 0, 5)),
        (1, [1, 1, 1, 1], (1, 0, 0, 0)),
        (1000, [Decimal("0.5"), Decimal("0.25"), Decimal("0.25")], (500, 250, 250)),
        (7, [2, 3], (3, 4)),  # exact 2.8 / 4.2: the larger remainder (0.8) gets the unit
        (99, [1], (99,)),
    ],
)
def test_allocate_examples(total: int, weights: list[int | Decimal], expected: tuple[int, ...]) -> None:
    assert allocate(total, weights) == expected


@pytest.mark.parametrize("weights", [[], [-1, 2], [Decimal("NaN")], [Decimal("Infinity"), 1]])
def test_allocate_rejects_bad_weights(weights: list[int | Decimal]) -> None:
    with pytest.raises(ValueError):
        allocate(10, weights)


_weights = st.lists(
    st.one_of(
        st.integers(min_value=0, max_value=10**6),
        st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
    ),
    min_size=1,
    max_size=12,
)


@given(st.integers(min_value=-(10**12), max_value=10**12), _weights)
def test_allocate_never_creates_or_loses_a_unit(total: int, weights: list[int | Decimal]) -> None:
    shares = allocate(total, weights)
    assert len(shares) == len(weights)
    assert sum(shares) == total
    exact = [Fraction(w) for w in weights]
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        exact, weight_sum = [Fraction(1)] * len(weights), Fraction(len(weights))
    for share, weight in zip(shares, exact, strict=True):
        assert abs(share - total * weight / weight_sum) < 1


@given(st.integers(min_value=0, max_value=10**9), _weights)
def test_allocate_is_symmetric_in_sign(total: int, weights: list[int | Decimal]) -> None:
    assert allocate(-total, weights) == tuple(-share for share in allocate(total, weights))


# --- purity ---------------------------------------------------------------------------------

# Standard-library modules that do I/O, randomness or read the clock: not welcome in core.
_IMPURE_MODULES = {
    "io",
    "os",
    "pathlib",
    "random",
    "secrets",
    "shutil",
    "socket",
    "sqlite3",
    "subprocess",
    "tempfile",
    "time",
    "urllib",
    "http",
}
_WALL_CLOCK = {"now", "utcnow", "today"}


def _core_sources() -> list[Path]:
    return sorted(Path(billfold.core.__file__).parent.rglob("*.py"))


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", _core_sources(), ids=lambda path: path.name)
def test_core_module_is_pure(path: Path) -> None:
    """core imports only the standard library and billfold.core; no float, no wall clock, no I/O."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for name in _imported_modules(tree):
        top = name.split(".")[0]
        if top == "billfold":
            assert name == "billfold.core" or name.startswith("billfold.core."), f"{path.name} imports {name}"
        else:
            assert top in sys.stdlib_module_names, f"{path.name} imports non-stdlib {name}"
            assert top not in _IMPURE_MODULES, f"{path.name} imports {name}"
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Name) and node.id == "float"), f"float in {path.name}"
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), (
            f"float literal in {path.name}"
        )
        assert not (isinstance(node, ast.Attribute) and node.attr in _WALL_CLOCK), (
            f"wall clock in {path.name}"
        )

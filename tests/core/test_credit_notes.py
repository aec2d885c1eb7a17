"""Credit note amounts: crediting by quantity and amount, proportional discounts and taxes, the pre/post
payment split — then properties: credit notes never give back more than the invoice, and their sums add up."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billfold.core.credit_notes import (
    ByAmount,
    ByQuantity,
    CreditLine,
    CreditNoteError,
    CustomLine,
    InvoiceLine,
    LineDiscount,
    LineTaxAmount,
    credit,
    split,
)
from billfold.core.tax import TaxRate

# 20 seats × $99.00 = $1,980.00, 20% off ($396.00), 19% VAT on $1,584.00 = $300.96 (the timeline scenario's invoice).
SEATS = InvoiceLine(
    id="il_seats",
    amount=198000,
    quantity=20,
    discounts=(LineDiscount("di_20off", 39600, "invoice"),),
    taxes=(LineTaxAmount("txr_vat", False, 158400, 30096),),
)


def _after(line: InvoiceLine, cl: CreditLine) -> InvoiceLine:
    if cl.mode == "quantity":
        return InvoiceLine(
            line.id,
            line.amount,
            line.quantity,
            line.discounts,
            line.taxes,
            "quantity",
            line.credited_quantity + (cl.quantity or 0),
            line.credited_amount + cl.amount,
        )
    return InvoiceLine(
        line.id,
        line.amount,
        line.quantity,
        line.discounts,
        line.taxes,
        "amount",
        0,
        line.credited_amount + cl.amount,
    )


def test_one_seat_credits_its_share_of_discount_and_tax() -> None:
    """https://docs.stripe.com/invoicing/integration/programmatic-credit-notes: "Discount a quantity from an
    invoice line item. The total discount is the discount quantity times the unit price of that line item."
    One of 20 seats: $99.00, less its 20% ($19.80), plus 19% VAT on $79.20 ($15.048 → $15.05)."""
    note = credit([SEATS], [ByQuantity("il_seats", 1)])
    (line,) = note.lines
    assert (line.amount, line.quantity, line.unit_amount_decimal) == (9900, 1, Decimal(9900))
    assert [d.amount for d in line.discounts] == [1980]
    assert [(t.taxable_amount, t.amount) for t in line.taxes] == [(7920, 1505)]
    # subtotal excludes invoice-level discounts and exclusive tax; total includes both.
    assert (note.subtotal, note.total_excluding_tax, note.total, note.discount_amount) == (
        9900,
        7920,
        9425,
        1980,
    )


def test_credits_in_parts_give_back_exactly_the_line() -> None:
    """Seven seats, then six, then the last seven. The VAT is rounded cumulatively: round(30,096 × 7/20) = 10,534,
    round(30,096 × 13/20) = 19,562 (so 9,028 for the six), and the last seven get the rest, 10,534; the three
    credit notes add up to the invoice's $1,884.96 exactly."""
    line, totals, taxes = SEATS, [], []
    for q in (7, 6, 7):
        note = credit([line], [ByQuantity("il_seats", q)])
        line = _after(line, note.lines[0])
        totals.append(note.total)
        taxes.append(note.tax_totals[0].amount)
    assert taxes == [10534, 9028, 10534]
    assert totals == [65974, 56548, 65974] and sum(totals) == 188496
    with pytest.raises(CreditNoteError) as err:
        credit([line], [ByQuantity("il_seats", 1)])
    assert err.value.param == "lines[0][quantity]" and "at most 0 more" in err.value.message


def test_credit_by_amount_and_mode_cannot_change() -> None:
    note = credit([SEATS], [ByAmount("il_seats", 19800)])
    line = note.lines[0]
    assert (line.amount, line.quantity, [d.amount for d in line.discounts]) == (19800, None, [3960])
    assert line.taxes[0].amount == 3010  # 19% of 15,840
    after = _after(SEATS, line)
    with pytest.raises(CreditNoteError) as err:
        credit([after], [ByQuantity("il_seats", 1)])
    assert err.value.param == "lines[0]" and "by amount" in err.value.message
    with pytest.raises(CreditNoteError) as err:
        credit([after], [ByAmount("il_seats", 198000 - 19800 + 1)])
    assert err.value.param == "lines[0][amount]"


def test_inclusive_tax_stays_inside_the_amount() -> None:
    """UK VAT 20% inside £120.00 (£20.00): crediting a quarter gives back £30.00 with £5.00 of VAT inside."""
    line = InvoiceLine("il_uk", 12000, 4, taxes=(LineTaxAmount("txr_uk", True, 10000, 2000),))
    note = credit([line], [ByQuantity("il_uk", 1)])
    assert (note.total, note.subtotal, note.subtotal_excluding_tax, note.total_excluding_tax) == (
        3000,
        3000,
        2500,
        2500,
    )
    assert note.tax_totals == (LineTaxAmount("txr_uk", True, 2500, 500),)


def test_custom_line_is_taxed_with_its_own_rates() -> None:
    rate = TaxRate("txr_10", Decimal(10), inclusive=False)
    note = credit([], [CustomLine(Decimal("333.3"), 3, (rate,))])
    assert (note.lines[0].amount, note.lines[0].taxes[0].amount, note.total) == (1000, 100, 1100)


def test_same_line_twice_in_one_credit_note_is_cumulative() -> None:
    with pytest.raises(CreditNoteError) as err:
        credit([SEATS], [ByQuantity("il_seats", 15), ByQuantity("il_seats", 6)])
    assert err.value.param == "lines[1][quantity]"


def test_unknown_or_empty_lines_are_refused() -> None:
    with pytest.raises(CreditNoteError) as err:
        credit([SEATS], [ByQuantity("il_nope", 1)])
    assert err.value.param == "lines[0][invoice_line_item]"
    credit_line = InvoiceLine("il_credit", -500, 1)
    with pytest.raises(CreditNoteError):
        credit([credit_line], [ByAmount("il_credit", 1)])


def test_split_pre_then_post_payment() -> None:
    """https://docs.stripe.com/api/credit_notes/create: the credit note "will first reduce the invoice's
    amount_remaining (and amount_due), but not below zero"; the rest is refund + credit + out of band."""
    s = split(
        1000, creditable=5000, amount_remaining=600, refund=None, credit=400, out_of_band=None, refundable=0
    )
    assert (s.pre_payment, s.post_payment, s.credit, s.type) == (600, 400, 400, "mixed")
    s = split(
        1000, creditable=5000, amount_remaining=0, refund=700, credit=None, out_of_band=300, refundable=700
    )
    assert (s.pre_payment, s.refund, s.out_of_band, s.type) == (0, 700, 300, "post_payment")
    assert split(
        10, creditable=10, amount_remaining=50, refund=None, credit=None, out_of_band=None, refundable=0
    ).type == ("pre_payment")
    for kwargs, param in (
        ({"creditable": 999}, "amount"),
        ({"credit": 300}, "credit_amount"),
        ({"refund": 1000, "refundable": 999}, "refund_amount"),
        ({}, "credit_amount"),
    ):
        args = {
            "creditable": 5000,
            "amount_remaining": 0,
            "refund": None,
            "credit": None,
            "out_of_band": None,
        }
        args.update(kwargs)  # type: ignore[arg-type]
        with pytest.raises(CreditNoteError) as err:
            split(1000, refundable=int(args.pop("refundable", 0) or 0), **args)  # type: ignore[arg-type]
        assert err.value.param == param, kwargs


# --- properties --------------------------------------------------------------------------------------------------


@st.composite
def invoice_lines(draw: st.DrawFn) -> InvoiceLine:
    quantity = draw(st.integers(1, 50))
    amount = draw(st.integers(1, 10_000_000))
    discount = draw(st.integers(0, amount))
    net = amount - discount
    inclusive = draw(st.booleans())
    tax = draw(st.integers(0, net // 4))
    taxable = net - tax if inclusive else net
    return InvoiceLine(
        id="il_x",
        amount=amount,
        quantity=quantity,
        discounts=(LineDiscount("di_x", discount, draw(st.sampled_from(["line", "invoice"]))),)
        if discount
        else (),
        taxes=(LineTaxAmount("txr_x", inclusive, taxable, tax),) if tax else (),
    )


def _gives_back(line: InvoiceLine, cl: CreditLine) -> tuple[int, int, int, int]:
    return (
        cl.amount,
        cl.discount_amount,
        sum(t.amount for t in cl.taxes),
        sum(t.taxable_amount for t in cl.taxes),
    )


@settings(max_examples=300, deadline=None)
@given(invoice_lines(), st.lists(st.integers(1, 50), min_size=1, max_size=8), st.booleans())
def test_credit_notes_never_exceed_the_line_and_completing_it_gives_back_exactly(
    line: InvoiceLine, steps: list[int], by_amount: bool
) -> None:
    original = line
    credited = [0, 0, 0, 0]
    for step in steps:
        if by_amount:
            request: ByQuantity | ByAmount = ByAmount(line.id, max(1, original.amount * step // 50))
        else:
            request = ByQuantity(line.id, min(step, original.quantity or 1))
        try:
            note = credit([line], [request])
        except CreditNoteError:
            continue  # more than is left, or a note that would give back nothing
        (cl,) = note.lines
        # Sums add up: the totals are the line's parts.
        assert note.total == cl.amount - cl.discount_amount + cl.exclusive_tax
        assert note.subtotal - note.subtotal_excluding_tax == cl.inclusive_tax
        parts = _gives_back(line, cl)
        assert all(p >= 0 for p in parts)
        credited = [a + b for a, b in zip(credited, parts, strict=True)]
        line = _after(line, cl)
    whole = (
        original.amount,
        sum(d.amount for d in original.discounts),
        sum(t.amount for t in original.taxes),
        sum(t.taxable_amount for t in original.taxes),
    )
    assert all(c <= w for c, w in zip(credited, whole, strict=True))
    # Complete the line: everything comes back, to the minor unit, never more.
    left = (
        ByQuantity(line.id, (original.quantity or 0) - line.credited_quantity)
        if line.mode == "quantity" or (line.mode is None and not by_amount)
        else ByAmount(line.id, original.amount - line.credited_amount)
    )
    if (isinstance(left, ByQuantity) and left.quantity) or (isinstance(left, ByAmount) and left.amount):
        try:
            note = credit([line], [left])
        except CreditNoteError:
            return  # the remainder's total would not be positive (all of it discounted away)
        credited = [a + b for a, b in zip(credited, _gives_back(line, note.lines[0]), strict=True)]
    assert tuple(credited) == whole


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 1_000_000),
    st.integers(0, 1_000_000),
    st.integers(0, 1_000_000),
    st.integers(0, 100),
)
def test_split_parts_sum_to_the_total(total: int, remaining: int, refundable: int, refund_pct: int) -> None:
    post = total - min(total, remaining)
    refund = min(refundable, post * refund_pct // 100)
    s = split(
        total,
        creditable=total,
        amount_remaining=remaining,
        refund=refund,
        credit=post - refund,
        out_of_band=None,
        refundable=refundable,
    )
    assert s.pre_payment + s.refund + s.credit + s.out_of_band == total
    assert s.pre_payment <= remaining and s.refund <= refundable


@st.composite
def credit_requests(draw: st.DrawFn, lines: list[InvoiceLine]) -> list[ByQuantity | ByAmount | CustomLine]:
    out: list[ByQuantity | ByAmount | CustomLine] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["quantity", "amount", "custom"]))
        if kind == "custom":
            out.append(CustomLine(Decimal(draw(st.integers(0, 100_000))), draw(st.integers(1, 3))))
            continue
        line = draw(st.sampled_from(lines))
        if kind == "quantity":
            out.append(ByQuantity(line.id, draw(st.integers(1, line.quantity or 1))))
        else:
            out.append(ByAmount(line.id, draw(st.integers(1, line.amount))))
    return out


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_invoice_never_gives_back_more_than_its_total_and_notes_add_up(data: st.DataObject) -> None:
    lines = [
        InvoiceLine(f"il_{i}", line.amount, line.quantity, line.discounts, line.taxes)
        for i, line in enumerate(data.draw(st.lists(invoice_lines(), min_size=1, max_size=4)))
    ]
    invoice_total = sum(
        line.amount
        - sum(d.amount for d in line.discounts)
        + sum(t.amount for t in line.taxes if not t.inclusive)
        for line in lines
    )
    state = {line.id: line for line in lines}
    credited = 0
    for _ in range(data.draw(st.integers(1, 6))):
        requests = data.draw(credit_requests(list(state.values())))
        try:
            note = credit(list(state.values()), requests)
            s = split(
                note.total,
                creditable=invoice_total - credited,
                amount_remaining=0,
                refund=None,
                credit=note.total,
                out_of_band=None,
                refundable=0,
            )
        except CreditNoteError:
            continue
        # Sums add up: the note's totals are the sums of its lines, and the split gives back the total.
        assert note.total == sum(cl.total for cl in note.lines)
        assert note.subtotal == sum(cl.amount for cl in note.lines) - sum(
            d.amount for cl in note.lines for d in cl.discounts if d.level == "line"
        )
        assert note.total_excluding_tax == note.total - sum(
            t.amount for t in note.tax_totals if not t.inclusive
        ) - sum(t.amount for t in note.tax_totals if t.inclusive)
        assert sum(a for _, a in note.discount_totals) == note.discount_amount
        assert s.pre_payment + s.post_payment == note.total
        credited += note.total
        for cl in note.lines:
            if cl.invoice_line is not None:
                state[cl.invoice_line] = _after(state[cl.invoice_line], cl)
        assert credited <= invoice_total

"""What the demo's three months produced, read back from the account: invoices by status, revenue by currency,
subscriptions by status, and one invoice explained line by line.

Why this module exists: the end of ``billfold demo`` should answer "what did the bill runs do?" at a glance, and show
the plain-language explanation a support agent reads (the ``explanation`` of each invoice line). Everything is read
from the stored documents, not from what the timeline meant to do, so the summary is a check as much as a report.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from billfold.app.ports import Doc, Store
from billfold.core.money import to_major_str

INVOICE_STATUSES = ("paid", "open", "draft", "uncollectible", "void")
SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due", "unpaid", "incomplete", "paused", "canceled")
CURRENCY_ORDER = ("usd", "eur", "gbp", "aud")


def format_money(amount: int, currency: str) -> str:
    """``$1,234.56``, ``€99.00``, ``A$149.00`` with Babel when it is installed; else ``1234.56 USD``."""
    major = to_major_str(amount, currency)
    try:
        from babel.numbers import format_currency
    except ImportError:  # pragma: no cover - Babel is a dependency, but the summary must not need it
        return f"{major} {currency.upper()}"
    return str(format_currency(Decimal(major), currency.upper(), locale="en_US"))


@dataclass
class Summary:
    # status -> currency -> [count, sum of amount_due]
    invoices: dict[str, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    revenue: dict[str, int] = field(default_factory=dict)  # currency -> amount paid
    subscriptions: Counter[str] = field(default_factory=Counter)
    cancellations: Counter[str] = field(default_factory=Counter)  # cancellation_details.reason
    schedules: Counter[str] = field(default_factory=Counter)
    example: Doc | None = None

    def invoice_count(self, status: str) -> int:
        return sum(count for count, _ in self.invoices.get(status, {}).values())

    def currencies(self) -> list[str]:
        found = {c for by_currency in self.invoices.values() for c in by_currency}
        return sorted(found, key=lambda c: (CURRENCY_ORDER.index(c) if c in CURRENCY_ORDER else 99, c))


def _lines(invoice: Doc) -> list[Doc]:
    found: list[Doc] = (invoice.get("lines") or {}).get("data") or []
    return found


def _example_rank(invoice: Doc) -> tuple[int, int, int, int, int]:
    """Prefer a paid renewal that shows the most: prorations, a discount, a tax, and many lines."""
    lines = _lines(invoice)
    proration = any((line.get("lineage") or {}).get("proration") for line in lines)
    discount = any(d["amount"] for line in lines for d in line.get("discount_amounts") or [])
    tax = any(line.get("taxes") for line in lines)
    return (invoice["status"] == "paid", proration, discount, tax, len(lines))


def summarize(store: Store) -> Summary:
    summary = Summary()
    best: tuple[tuple[int, int, int, int, int], str, int] | None = None
    for invoice in store.iterate("invoice", {}):
        cell = summary.invoices[invoice["status"]].setdefault(invoice["currency"], [0, 0])
        cell[0] += 1
        cell[1] += int(invoice["amount_due"])
        if invoice["status"] == "paid":
            currency = invoice["currency"]
            summary.revenue[currency] = summary.revenue.get(currency, 0) + int(invoice["amount_paid"])
        # Deterministic choice: the richest invoice, then the earliest period, then the customer's e-mail.
        key = (
            _example_rank(invoice),
            str(invoice.get("customer_email") or ""),
            -int(invoice["period_start"]),
        )
        if best is None or key > best:
            best, summary.example = key, invoice
    for sub in store.iterate("subscription", {}):
        summary.subscriptions[sub["status"]] += 1
        if sub["status"] == "canceled":
            summary.cancellations[str((sub.get("cancellation_details") or {}).get("reason"))] += 1
    for schedule in store.iterate("subscription_schedule", {}):
        summary.schedules[schedule["status"]] += 1
    return summary


def counts_line(counts: dict[str, int], order: tuple[str, ...]) -> str:
    """``31 paid, 2 open, 14 draft``: the statuses in a fixed order, then any others; zeros left out."""
    known = [s for s in order if counts.get(s)]
    others = sorted(s for s in counts if s not in order and counts[s])
    return ", ".join(f"{counts[s]} {s}" for s in (*known, *others)) or "none"


def print_summary(console: Console, summary: Summary, *, customers: int, clocks: int) -> None:
    invoice_counts = {s: summary.invoice_count(s) for s in summary.invoices}
    total = sum(invoice_counts.values())
    console.print(
        f"\nThree months on {clocks} test clocks (Jan 1 - Apr 1, 2026) for {customers} customers.",
        highlight=False,
    )
    console.print(
        f"Invoices by status: {counts_line(invoice_counts, INVOICE_STATUSES)} ({total} in all)",
        highlight=False,
    )
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.cancellations.items()))
    console.print(
        f"Subscriptions by status: {counts_line(dict(summary.subscriptions), SUBSCRIPTION_STATUSES)}"
        + (f" (canceled: {reasons})" if reasons else ""),
        highlight=False,
    )
    if summary.schedules:
        console.print(
            f"Subscription schedules (ramp deals): {counts_line(dict(summary.schedules), ('active',))}",
            highlight=False,
        )
    currencies = summary.currencies()
    table = Table(title="Invoices by status: count and amount due per currency")
    table.add_column("Status")
    table.add_column("Invoices", justify="right")
    for currency in currencies:
        table.add_column(currency.upper(), justify="right")
    for status in (*INVOICE_STATUSES, *sorted(set(summary.invoices) - set(INVOICE_STATUSES))):
        by_currency = summary.invoices.get(status)
        if not by_currency:
            continue
        cells = [
            f"{by_currency[c][0]} · {format_money(by_currency[c][1], c)}" if c in by_currency else "-"
            for c in currencies
        ]
        table.add_row(status, str(invoice_counts[status]), *cells)
    console.print(table)
    revenue = [format_money(summary.revenue[c], c) for c in currencies if c in summary.revenue]
    console.print("Revenue (paid invoices): " + (", ".join(revenue) or "none"), highlight=False)
    if summary.example is not None:
        print_invoice(console, summary.example)


def print_invoice(console: Console, invoice: Doc) -> None:
    """One invoice as a support agent would read it: each line's plain-language explanation, then the totals."""
    currency = invoice["currency"]
    number = invoice.get("number") or invoice["id"]
    console.print(
        f"\nExample invoice {number} ({invoice['status']}) for {invoice.get('customer_name')}, "
        f"billing reason {invoice.get('billing_reason')}:",
        highlight=False,
    )
    for line in _lines(invoice):
        console.print(
            f"  - {line.get('explanation') or line.get('description')}", highlight=False, markup=False
        )
    discounts = sum(int(d["amount"]) for d in invoice.get("total_discount_amounts") or [])
    taxes = sum(int(t["amount"]) for t in invoice.get("total_taxes") or [])
    parts = [f"subtotal {format_money(invoice['subtotal'], currency)}"]
    if discounts:
        parts.append(f"discounts -{format_money(discounts, currency)}")
    if taxes:
        parts.append(f"tax {format_money(taxes, currency)}")
    parts.append(f"total {format_money(invoice['total'], currency)}")
    parts.append(f"paid {format_money(invoice['amount_paid'], currency)}")
    console.print("  " + "; ".join(parts), highlight=False)

"""``billfold demo``: the reference customer's price list and a few hundred customers, ready to call with the SDK.

Why this module exists: a new user should see Billfold answer the official ``stripe`` SDK with realistic data within
a minute. The data is the reference customer's (docs: README, "The reference customer"): seats billed monthly or
annually, outcome-based AI resolutions, proactive messages (a flat fee with 500 included, then graduated), SMS and
WhatsApp messages in graduated tiers, a sales-led discount, the VAT/GST rates of its markets, and business customers
in its ten countries. Prices in EUR, GBP and AUD are set per price (``currency_options``), not converted.

Seeding goes through the same use cases as the API, one unit of work per batch, so every seeded object has its
``evt_`` event and audit row. A second run adds nothing: the catalog is seeded only into an account without
products, and customers only up to the requested count.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from billfold.app.catalog import create_price, create_product
from billfold.app.customers import create_customer
from billfold.app.discounts import create_coupon, create_promotion_code
from billfold.app.meters import create_meter
from billfold.app.ports import Doc, ListQuery, Scope, Store
from billfold.app.tax_rates import create_tax_rate
from billfold.app.test_clocks import create_clock
from billfold.core.money import to_major_str
from billfold.demo_summary import Summary, print_summary, summarize
from billfold.demo_timeline import CLOCK_SIZE, START, clock_name, run_timeline, story_metadata
from billfold.main import Runtime, build_runtime

CURRENCIES = ("usd", "eur", "gbp", "aud")
SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "aud": "A$"}
BATCH = 50  # customers per unit of work
ACTOR = "billfold-demo"

Amounts = dict[str, int]  # currency -> minor units
Tiers = list[tuple[int | str, int, int]]  # (up_to or "inf", unit amount, flat amount), minor units


@dataclass(frozen=True)
class ProductSeed:
    key: str
    name: str
    description: str
    unit_label: str


PRODUCTS = (
    ProductSeed("essential_seat", "Essential seat", "Helpdesk seat for a human support agent.", "seat"),
    ProductSeed("advanced_seat", "Advanced seat", "Seat with workflows, automation and reporting.", "seat"),
    ProductSeed("expert_seat", "Expert seat", "Seat with security, SLAs and workforce tools.", "seat"),
    ProductSeed("copilot", "Copilot", "AI copilot for human support agents, per seat.", "seat"),
    ProductSeed(
        "ai_resolution", "AI agent resolutions", "Billed per conversation the AI resolved.", "resolution"
    ),
    ProductSeed("proactive_messages", "Proactive messages", "500 messages a month included.", "message"),
    ProductSeed("sms_whatsapp", "SMS / WhatsApp messages", "Messages sent over SMS and WhatsApp.", "message"),
)

# Per-seat prices: monthly, and annual (one charge a year for twelve months at the lower monthly rate).
SEATS: tuple[tuple[str, Amounts, Amounts], ...] = (
    (
        "essential_seat",
        {"usd": 3900, "eur": 3900, "gbp": 3500, "aud": 5900},
        {"usd": 12 * 2900, "eur": 12 * 2900, "gbp": 12 * 2500, "aud": 12 * 4400},
    ),
    (
        "advanced_seat",
        {"usd": 9900, "eur": 9900, "gbp": 8500, "aud": 14900},
        {"usd": 12 * 8500, "eur": 12 * 8500, "gbp": 12 * 7200, "aud": 12 * 12900},
    ),
    (
        "expert_seat",
        {"usd": 13900, "eur": 13900, "gbp": 11900, "aud": 20900},
        {"usd": 12 * 13200, "eur": 12 * 13200, "gbp": 12 * 11200, "aud": 12 * 19900},
    ),
    (
        "copilot",
        {"usd": 3500, "eur": 3500, "gbp": 3000, "aud": 5500},
        {"usd": 12 * 2900, "eur": 12 * 2900, "gbp": 12 * 2500, "aud": 12 * 4400},
    ),
)
# $0.99 per resolution: a decimal amount in cents, as a metered price.
AI_RESOLUTION: dict[str, Decimal] = {
    "usd": Decimal(99),
    "eur": Decimal(99),
    "gbp": Decimal(85),
    "aud": Decimal(149),
}
# A flat fee that includes 500 messages (tier 1: flat amount, unit amount 0), then graduated per message.
PROACTIVE: dict[str, Tiers] = {
    "usd": [(500, 0, 9900), (5000, 10, 0), ("inf", 5, 0)],
    "eur": [(500, 0, 9900), (5000, 10, 0), ("inf", 5, 0)],
    "gbp": [(500, 0, 8500), (5000, 8, 0), ("inf", 4, 0)],
    "aud": [(500, 0, 14900), (5000, 15, 0), ("inf", 8, 0)],
}
SMS_WHATSAPP: dict[str, Tiers] = {
    "usd": [(1000, 5, 0), (10000, 3, 0), (100000, 2, 0), ("inf", 1, 0)],
    "eur": [(1000, 5, 0), (10000, 3, 0), (100000, 2, 0), ("inf", 1, 0)],
    "gbp": [(1000, 4, 0), (10000, 3, 0), (100000, 2, 0), ("inf", 1, 0)],
    "aud": [(1000, 8, 0), (10000, 5, 0), (100000, 3, 0), ("inf", 2, 0)],
}
# (display name, percentage, country, jurisdiction, tax type, description); all exclusive of the price.
TAX_RATES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("VAT", "19", "DE", "DE", "vat", "Germany VAT (Umsatzsteuer)"),
    ("VAT", "20", "FR", "FR", "vat", "France VAT (TVA)"),
    ("VAT", "23", "IE", "IE", "vat", "Ireland VAT"),
    ("VAT", "21", "ES", "ES", "vat", "Spain VAT (IVA)"),
    ("VAT", "22", "IT", "IT", "vat", "Italy VAT (IVA)"),
    ("VAT", "23", "PT", "PT", "vat", "Portugal VAT (IVA)"),
    ("VAT", "20", "GB", "UK", "vat", "UK VAT"),
    ("GST", "10", "AU", "AU", "gst", "Australia GST"),
    ("ISS", "5", "BR", "BR - São Paulo", "service_tax", "Brazil municipal service tax (illustrative rate)"),
)
COUPON_ID = "ADVANCED20_12M"
COUPON_NAME = "20% off Advanced seats for 12 months"
PROMOTION_CODE = "ADVANCED20"


SEAT_KEYS = tuple(f"{product}_{label}" for product, _, _ in SEATS for label in ("monthly", "annual"))
LOOKUP_KEYS = (*SEAT_KEYS, "ai_resolution", "proactive_message", "sms_whatsapp_message")


@dataclass(frozen=True)
class DemoResult:
    account_id: str
    api_key: str
    seeded_catalog: bool
    customers_added: int
    customers_total: int
    timeline_steps: int  # clock steps run now (0 when every demo clock had already reached the end)
    summary: Summary


# -- the catalog --------------------------------------------------------------------------------------------------
def _tiers(tiers: Tiers) -> list[Doc]:
    made: list[Doc] = []
    for up_to, unit, flat in tiers:
        made.append({"up_to": up_to, "unit_amount": unit} | ({"flat_amount": flat} if flat else {}))
    return made


def _price_values(product_id: str, lookup_key: str, nickname: str) -> Doc:
    return {
        "product": product_id,
        "currency": "usd",
        "lookup_key": lookup_key,
        "nickname": nickname,
        "tax_behavior": "exclusive",
        "metadata": {"source": "billfold-demo"},
    }


# The meters the metered prices bill (one per metered price; the event name is the price's lookup key). Since API
# version 2025-03-31.basil a metered price must name a meter.
METERS = (
    ("ai_resolution", "AI resolutions"),
    ("proactive_message", "Proactive messages"),
    ("sms_whatsapp_message", "SMS / WhatsApp messages"),
)


def catalog_prices(product_ids: dict[str, str], meter_ids: dict[str, str]) -> list[Doc]:
    """The create-price values of the whole price list, given the product ids by seed key and the meter ids by
    event name."""
    prices: list[Doc] = []
    names = {p.key: p.name for p in PRODUCTS}
    for key, monthly, annual in SEATS:
        for interval, amounts, label in (("month", monthly, "monthly"), ("year", annual, "annual")):
            values = _price_values(product_ids[key], f"{key}_{label}", f"{names[key]}, {label}")
            values |= {
                "unit_amount": amounts["usd"],
                "recurring": {"interval": interval, "usage_type": "licensed"},
                "currency_options": {c: {"unit_amount": amounts[c]} for c in CURRENCIES[1:]},
            }
            prices.append(values)
    resolution = _price_values(product_ids["ai_resolution"], "ai_resolution", "AI resolution, in arrears")
    resolution |= {
        "unit_amount_decimal": AI_RESOLUTION["usd"],
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_ids["ai_resolution"]},
        "currency_options": {c: {"unit_amount_decimal": AI_RESOLUTION[c]} for c in CURRENCIES[1:]},
    }
    prices.append(resolution)
    for key, lookup_key, nickname, tiers in (
        ("proactive_messages", "proactive_message", "Proactive messages, 500 included", PROACTIVE),
        ("sms_whatsapp", "sms_whatsapp_message", "SMS / WhatsApp messages, graduated", SMS_WHATSAPP),
    ):
        values = _price_values(product_ids[key], lookup_key, nickname)
        values |= {
            "billing_scheme": "tiered",
            "tiers_mode": "graduated",
            "tiers": _tiers(tiers["usd"]),
            "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_ids[lookup_key]},
            "currency_options": {c: {"tiers": _tiers(tiers[c])} for c in CURRENCIES[1:]},
        }
        prices.append(values)
    return prices


def seed_catalog(store: Store, now: int) -> None:
    """Products, prices, the Advanced-seat discount and its promotion code, and the tax rates, in one unit of work."""
    product_ids: dict[str, str] = {}
    for seed in PRODUCTS:
        product = create_product(
            store,
            now,
            {
                "name": seed.name,
                "description": seed.description,
                "unit_label": seed.unit_label,
                "metadata": {"demo_key": seed.key},
            },
        )
        product_ids[seed.key] = product["id"]
    meter_ids = {
        event_name: create_meter(
            store,
            now,
            {"display_name": name, "event_name": event_name, "default_aggregation": {"formula": "sum"}},
        )["id"]
        for event_name, name in METERS
    }
    for values in catalog_prices(product_ids, meter_ids):
        create_price(store, now, values)
    coupon = create_coupon(
        store,
        now,
        {
            "id": COUPON_ID,
            "name": COUPON_NAME,
            "percent_off": Decimal(20),
            "duration": "repeating",
            "duration_in_months": 12,
            "applies_to": {"products": [product_ids["advanced_seat"]]},
            "metadata": {"channel": "sales-led"},
        },
    )
    create_promotion_code(
        store, now, {"promotion": {"type": "coupon", "coupon": coupon["id"]}, "code": PROMOTION_CODE}
    )
    for display_name, percentage, country, jurisdiction, tax_type, description in TAX_RATES:
        create_tax_rate(
            store,
            now,
            {
                "display_name": display_name,
                "percentage": Decimal(percentage),
                "inclusive": False,
                "country": country,
                "jurisdiction": jurisdiction,
                "tax_type": tax_type,
                "description": description,
            },
        )


# -- customers ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Country:
    """Where demo customers live, and what their names, addresses and tax ids look like there."""

    code: str
    weight: int  # relative share of customers
    locale: str
    phone: str
    cities: str  # "City,State,Postal|..."
    streets: str
    street_format: str
    brands: str
    trades: str
    legal_forms: str
    tax_id_type: str
    tax_id_format: str  # "#" is a random digit
    tax_id_share: float  # share of customers who gave a tax id

    def pick(self, rng: random.Random, field: str) -> str:
        return rng.choice(str(getattr(self, field)).split("|"))


# fmt: off
COUNTRIES = (
    Country("US", 30, "en-US", "+1 415", "New York,NY,10001|San Francisco,CA,94105|Austin,TX,78701|Chicago,IL,60601|"
            "Seattle,WA,98101|Boston,MA,02110", "Main Street|Market Street|Broadway|Oak Avenue|Elm Street",
            "{number} {street}", "Summit|Bluebird|Redwood|Harbor|Pioneer|Keystone|Lakeside|Evergreen",
            "Software|Outfitters|Health|Logistics|Home Goods|Travel", "Inc.|LLC|Corp.", "us_ein", "##-#######", 0.2),
    Country("GB", 12, "en-GB", "+44 20", "London,,EC1A 1BB|Manchester,,M1 1AE|Edinburgh,,EH1 1YZ|Bristol,,BS1 4DJ|"
            "Leeds,,LS1 4AP", "High Street|King Street|Station Road|Church Lane|Victoria Road", "{number} {street}",
            "Thistle|Kestrel|Albion|Hawthorn|Wren|Bramble|Foxglove", "Software|Outfitters|Travel|Home|Cycles|Foods",
            "Ltd|plc", "gb_vat", "GB#########", 0.6),
    Country("IE", 5, "en-IE", "+353 1", "Dublin,,D02 X285|Cork,,T12 X70A|Galway,,H91 E2K3|Limerick,,V94 T9PX",
            "Grafton Street|Patrick Street|Shop Street|Henry Street", "{number} {street}",
            "Shamrock|Liffey|Claddagh|Atlantic|Burren|Emerald", "Software|Travel|Foods|Fashion|Health", "Ltd|DAC",
            "eu_vat", "IE#######A", 0.7),
    Country("DE", 11, "de-DE", "+49 30", "Berlin,,10115|München,,80331|Hamburg,,20095|Köln,,50667|"
            "Frankfurt am Main,,60311|Leipzig,,04109", "Hauptstraße|Bahnhofstraße|Friedrichstraße|Schillerstraße|"
            "Gartenweg", "{street} {number}", "Nordlicht|Bergblick|Rheinwerk|Lindenhof|Sonnenfeld|Elbtal|Alpenglück",
            "Software|Handel|Reisen|Logistik|Versand|Mode", "GmbH|AG|GmbH & Co. KG", "eu_vat", "DE#########", 0.75),
    Country("FR", 9, "fr-FR", "+33 1", "Paris,,75002|Lyon,,69002|Marseille,,13001|Toulouse,,31000|Bordeaux,,33000|"
            "Lille,,59000", "rue de la Paix|avenue Victor Hugo|rue de Rivoli|boulevard Voltaire|rue Nationale",
            "{number} {street}", "Lumière|Belle Rive|Mistral|Azur|Provence|Bastide",
            "Logiciels|Voyages|Mode|Épicerie fine|Services", "SAS|SARL|SA", "eu_vat", "FR###########", 0.7),
    Country("ES", 7, "es-ES", "+34 91", "Madrid,,28013|Barcelona,,08002|Valencia,,46002|Sevilla,,41001|Bilbao,,48001",
            "Calle Mayor|Gran Vía|Calle de Alcalá|Paseo de Gracia|Calle Real", "{street} {number}",
            "Sol y Mar|Alhambra|Brisa|Olivar|Costa Verde|Albero", "Software|Viajes|Moda|Alimentación|Servicios",
            "S.L.|S.A.", "eu_vat", "ESB########", 0.7),
    Country("IT", 7, "it-IT", "+39 02", "Milano,MI,20121|Roma,RM,00186|Torino,TO,10121|Bologna,BO,40121|"
            "Firenze,FI,50123", "Via Roma|Corso Italia|Via Garibaldi|Via Dante|Via Mazzini", "{street} {number}",
            "Bellavista|Dolomiti|Aurora|Girasole|Laguna|Vesuvio", "Software|Viaggi|Moda|Alimentari|Servizi",
            "S.r.l.|S.p.A.", "eu_vat", "IT###########", 0.7),
    Country("PT", 4, "pt-PT", "+351 21", "Lisboa,,1100-148|Porto,,4000-322|Braga,,4700-320|Coimbra,,3000-150",
            "Rua Augusta|Avenida da Liberdade|Rua de Santa Catarina|Rua do Ouro", "{street} {number}",
            "Atlântico|Douro|Azulejo|Alfama|Tejo", "Software|Viagens|Moda|Serviços", "Lda.|S.A.", "eu_vat",
            "PT#########", 0.7),
    Country("AU", 8, "en-AU", "+61 2", "Sydney,NSW,2000|Melbourne,VIC,3000|Brisbane,QLD,4000|Perth,WA,6000|"
            "Adelaide,SA,5000", "George Street|Collins Street|Queen Street|Hay Street|King William Street",
            "{number} {street}", "Wattle|Coral Coast|Southern Cross|Eucalypt|Red Gum|Bondi",
            "Software|Outfitters|Travel|Health|Home", "Pty Ltd", "au_abn", "## ### ### ###", 0.5),
    Country("BR", 7, "pt-BR", "+55 11", "São Paulo,SP,01310-100|Rio de Janeiro,RJ,22021-001|"
            "Belo Horizonte,MG,30130-000|Curitiba,PR,80010-000|Porto Alegre,RS,90010-000",
            "Avenida Paulista|Rua Oscar Freire|Avenida Atlântica|Rua da Bahia", "{street}, {number}",
            "Ipê|Sabiá|Jacarandá|Tucano|Maracujá", "Software|Viagens|Moda|Alimentos|Serviços", "Ltda.|S.A.",
            "br_cnpj", "##.###.###/0001-##", 0.8),
)
# fmt: on


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _digits(rng: random.Random, pattern: str) -> str:
    return "".join(rng.choice("0123456789") if ch == "#" else ch for ch in pattern)


def _customer(i: int, ranks: dict[str, int]) -> Doc:
    """The create-customer values of demo customer ``i``; ``ranks`` counts the customers of each segment so far
    (the rank in its segment picks the customer's story)."""
    weights = [c.weight for c in COUNTRIES]
    rng = random.Random(f"billfold-demo-customer-{i}")
    country = rng.choices(COUNTRIES, weights)[0]
    city, state, postal_code = country.pick(rng, "cities").split(",")
    company = f"{country.pick(rng, 'brands')} {country.pick(rng, 'trades')}"
    line1 = country.street_format.format(number=rng.randint(1, 180), street=country.pick(rng, "streets"))
    segment = "sales_led" if rng.random() < 0.3 else "self_serve"
    seats = rng.randint(1, 40) if segment == "self_serve" else rng.randint(20, 500)
    values: Doc = {
        "name": f"{company} {country.pick(rng, 'legal_forms')}",
        "email": f"billing@{_slug(company)}-{i + 1}.example",
        "phone": f"{country.phone} {_digits(rng, '### ####')}",
        "address": {
            "city": city,
            "country": country.code,
            "line1": line1,
            "line2": None,
            "postal_code": postal_code,
            "state": state or None,
        },
        "preferred_locales": [country.locale],
        "metadata": {"segment": segment, "seats": str(seats)},
    }
    # Most European businesses give their VAT id (so reverse charge can apply); fewer elsewhere.
    if rng.random() < country.tax_id_share:
        values["tax_id_data"] = [{"type": country.tax_id_type, "value": _digits(rng, country.tax_id_format)}]
    values["metadata"] |= story_metadata(i, segment, seats, ranks[segment])
    ranks[segment] += 1
    if values["metadata"]["story"] != "bank_transfer":  # who pays by bank transfer gives no card
        values["invoice_settings"] = {"default_payment_method": "pm_card_visa"}
    return values


def demo_customers(start: int = 0) -> Iterator[Doc]:
    """Create-customer values for demo customers ``start, start+1, ...``. Customer ``i`` depends only on the
    customers before it, so a rerun that tops up the list continues it instead of repeating it."""
    ranks = {"self_serve": 0, "sales_led": 0}
    i = 0
    while True:
        values = _customer(i, ranks)
        if i >= start:
            yield values
        i += 1


def seed_customers(console: Console, runtime: Runtime, scope: Scope, start: int, count: int) -> None:
    """Customers ``start .. start+count-1``, ``BATCH`` per unit of work, with a progress bar; each group of
    ``CLOCK_SIZE`` on its own test clock frozen at the start of the demo's timeline."""
    uow, clock = runtime.services.uow, runtime.services.clock
    made = demo_customers(start)
    columns = (TextColumn("seeding customers"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("customers", total=count)
        done = 0
        while done < count:
            size = min(BATCH, count - done)
            with uow(scope) as store:
                now = clock.now()
                for group in range(0, size, CLOCK_SIZE):
                    first, last = start + done + group + 1, start + done + min(group + CLOCK_SIZE, size)
                    test_clock = create_clock(store, now, START, clock_name(first, last))["id"]
                    for _ in range(min(CLOCK_SIZE, size - group)):
                        create_customer(store, now, next(made) | {"test_clock": test_clock})
            done += size
            progress.update(task, advance=size)


# -- output -------------------------------------------------------------------------------------------------------
def _money(amount: Decimal, currency: str) -> str:
    """Minor units as money for a person: ``$1,584.00``, ``$0.99``, ``$0.005`` (every digit, no rounding)."""
    whole = amount.to_integral_value()
    major = Decimal(to_major_str(int(whole), currency)) if amount == whole else (amount / 100).normalize()
    return SYMBOLS.get(currency, currency.upper() + " ") + format(major, ",f")


def _option(price: Doc, currency: str) -> Doc | None:
    if currency == price["currency"]:
        return price
    options: Doc = price.get("currency_options") or {}
    found: Doc | None = options.get(currency)
    return found


def _amount_text(price: Doc, currency: str) -> str:
    option = _option(price, currency)
    if option is None:
        return "-"
    if price["billing_scheme"] == "tiered":
        parts = []
        for tier in option.get("tiers") or []:
            flat, unit = Decimal(tier["flat_amount_decimal"] or 0), Decimal(tier["unit_amount_decimal"] or 0)
            parts.append(_money(flat, currency) + " flat" if flat and not unit else _money(unit, currency))
        return ", ".join(parts)
    return _money(Decimal(option["unit_amount_decimal"]), currency)


def _model_text(price: Doc) -> str:
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        return "graduated, metered" if price["billing_scheme"] == "tiered" else "per unit, metered"
    return f"per seat / {recurring.get('interval')}"


def catalog_table(store: Store, title: str, *, narrow: bool = False) -> Table:
    """The seeded prices as stored (read back, not from the seed data), one row per lookup key. ``narrow`` (under
    120 columns) stacks product, lookup key and model in the first column so the four amounts still fit."""
    prices = {p["lookup_key"]: p for p in store.iterate("price", {"lookup": LOOKUP_KEYS})}
    products = store.get_many("product", [p["product"] for p in prices.values()])
    caption = (
        "Seats are billed in advance, metered prices monthly in arrears. Tiers: proactive messages 1-500 "
        "(in the flat fee), 501-5,000, over 5,000; SMS / WhatsApp up to 1,000, 10,000, 100,000, over 100,000."
    )
    # Cells fold rather than end in an ellipsis: an amount must never be cut short.
    table = Table(title=title, caption=caption)
    # A fixed width for the column holding the lookup keys (the longest is 22 characters); the rest share the room.
    if narrow:
        table.add_column("Product / lookup key / model", overflow="fold", width=22)
    else:
        table.add_column("Product", overflow="fold")
        table.add_column("Lookup key", overflow="fold", width=22)
        table.add_column("Model", overflow="fold")
    for currency in CURRENCIES:
        table.add_column(currency.upper(), justify="right", overflow="fold")
    for key in LOOKUP_KEYS:
        price = prices.get(key)
        if price is None:
            continue
        name = str(products.get(price["product"], {}).get("name", price["product"]))
        cells = [name, key, _model_text(price)]
        first = ["\n".join(cells)] if narrow else cells
        table.add_row(*first, *(_amount_text(price, c) for c in CURRENCIES))
    return table


def sdk_snippet(api_key: str, host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"""import stripe

client = stripe.StripeClient("{api_key}", base_addresses={{"api": "http://{host}:{port}"}})
prices = client.v1.prices.list(params={{"lookup_keys": ["advanced_seat_monthly", "ai_resolution"]}})
for price in prices.data:
    print(price.lookup_key, price.unit_amount_decimal, price.currency_options["eur"].unit_amount_decimal)
for customer in client.v1.customers.list(params={{"limit": 100}}).auto_paging_iter():
    print(customer.id, customer.name, customer.address.country if customer.address else "")
for invoice in client.v1.invoices.list(params={{"status": "open", "limit": 100}}).auto_paging_iter():
    print(invoice.number, invoice.customer_name, invoice.amount_remaining, invoice.currency)
    for line in invoice.lines.data:
        print("  ", line["explanation"])
"""


# -- the command ----------------------------------------------------------------------------------------------------
def run_demo(
    console: Console,
    *,
    host: str,
    port: int,
    customers: int,
    runtime: Runtime | None = None,
    account: str = "demo",
) -> DemoResult:
    """Seed (or find) the demo account, then print its catalog, a test API key and an SDK snippet that uses it."""
    runtime = runtime or build_runtime()
    services = runtime.services
    account_id = services.accounts.ensure_account(account)
    scope = Scope(account_id=account_id, livemode=False, actor=ACTOR)

    with services.uow(scope) as store:
        seeded = not store.list("product", ListQuery(limit=1)).data
        if seeded:
            with console.status("seeding the catalog"):
                seed_catalog(store, services.clock.now())
        existing = sum(1 for _ in store.iterate("customer", {}))
    done = (
        f"Seeded {len(PRODUCTS)} products, {len(LOOKUP_KEYS)} prices, a coupon, a promotion code, tax rates."
    )
    console.print(done if seeded else f"Account {account} already has a catalog; not seeding it again.")
    added = max(0, customers - existing)
    if added:
        seed_customers(console, runtime, scope, existing, added)
    total = existing + added
    console.print(f"{total} customers in account {account} ({added} added).")
    steps, clocks = run_timeline(
        console,
        services.uow,
        scope,
        services.processor,
        services.clock.now,
        coupon=COUPON_ID,
        promotion_code=PROMOTION_CODE,
    )
    if clocks and not steps:
        console.print(
            f"The {clocks} demo test clocks have already run their three months; not running them again."
        )

    with services.uow(scope) as store:
        # A terminal has its own width; a pipe or a log file gets one wide enough for the table.
        out = console if console.is_terminal else Console(file=console.file, width=max(console.width, 140))
        out.print(
            catalog_table(store, f"Seeded catalog (account {account}, test mode)", narrow=out.width < 120)
        )
    console.print(
        f"Coupon {COUPON_ID} ({COUPON_NAME}), promotion code {PROMOTION_CODE}; "
        "tax rates: " + ", ".join(f"{c} {p}%" for _, p, c, _, _, _ in TAX_RATES)
    )
    with services.uow(scope) as store:
        summary = summarize(store)
    print_summary(out, summary, customers=total, clocks=clocks)

    api_key = services.accounts.create_key(account_id, livemode=False)
    console.print(f"\nTest API key for account {account} ({account_id}):", highlight=False)
    console.print(api_key, highlight=False, soft_wrap=True)
    console.print("\nTry it with the official SDK (pip install stripe==16.1.0):\n")
    console.print(sdk_snippet(api_key, host, port), highlight=False, markup=False, soft_wrap=True)
    return DemoResult(account_id, api_key, seeded, added, total, steps, summary)

"""The ``billfold`` command line: serve the API, migrate the database, create API keys, run the demo."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="Billfold: self-hosted subscription and usage billing with a Stripe-compatible API.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
keys_app = typer.Typer(help="API key commands.", no_args_is_help=True)
settings_app = typer.Typer(help="Per-account billing settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(settings_app, name="settings")
console = Console()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8420,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Run the background worker in-process.")
    ] = True,
) -> None:
    """Serve the Stripe-compatible API. The schema is created or migrated first (BILLFOLD_DATABASE_URL)."""
    import uvicorn

    from billfold.api.app import create_app
    from billfold.main import build_runtime, settle_for_long_run

    logging.basicConfig(level=logging.INFO)
    runtime = build_runtime()
    api = create_app(runtime.services)
    settle_for_long_run()
    loop = runtime.worker() if worker else None
    if loop is not None:
        loop.start()
    try:
        uvicorn.run(api, host=host, port=port, log_level=log_level)
    finally:
        if loop is not None:
            loop.stop()


@app.command("worker")
def worker_command(
    interval: Annotated[float, typer.Option(help="Seconds to sleep when nothing is due.")] = 1.0,
    processes: Annotated[
        int,
        typer.Option(
            min=1, help="Worker processes to run (use the cores on PostgreSQL; SQLite has a single writer)."
        ),
    ] = 1,
) -> None:
    """Run the background worker alone (due billing work, test clock advances). Several may share PostgreSQL."""
    from billfold.main import build_runtime, run_worker_processes, settle_for_long_run

    logging.basicConfig(level=logging.INFO)
    if processes > 1:
        build_runtime().engine.dispose()  # create or migrate the schema once, before the processes start
        console.print(f"{processes} worker processes running; Ctrl-C to stop")
        run_worker_processes(processes, interval=interval)
        return
    loop = build_runtime().worker(interval=interval)
    settle_for_long_run()
    console.print("worker running; Ctrl-C to stop")
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        loop.stop()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema of BILLFOLD_DATABASE_URL (default: a SQLite file under ./data)."""
    from billfold.adapters.db.engine import default_database_url, make_engine
    from billfold.adapters.db.migrate import current_revision, upgrade

    engine = make_engine()
    upgrade(engine)
    console.print(f"database {default_database_url()} at revision {current_revision(engine)}")


@keys_app.command("create")
def keys_create(
    mode: Annotated[str, typer.Option(help="test or live.")] = "test",
    account: Annotated[str, typer.Option(help="Account (tenant) name; created on first use.")] = "default",
) -> None:
    """Create an API secret key; it is printed once, as the last line."""
    from billfold.main import build_runtime

    if mode not in ("test", "live"):
        console.print("[red]--mode must be test or live[/red]")
        raise typer.Exit(2)
    runtime = build_runtime()
    accounts = runtime.services.accounts
    account_id = accounts.ensure_account(account)
    secret = accounts.create_key(account_id, livemode=mode == "live")
    console.print(f"account {account} ({account_id}), {mode} mode")
    print(secret)


@settings_app.command("show")
def settings_show(
    account: Annotated[str, typer.Option(help="Account (tenant) name.")] = "default",
) -> None:
    """Print the account's billing settings (its value, or the default)."""
    from billfold.app.account_settings import SETTINGS
    from billfold.main import build_runtime

    accounts = build_runtime().services.accounts
    account_id = accounts.ensure_account(account)
    for name, setting in SETTINGS.items():
        stored = accounts.account_setting(account_id, name)
        shown = setting.show(stored) if stored is not None else f"{setting.show(setting.default)} (default)"
        console.print(f"{name} = {shown}  [dim]# {setting.help}; {setting.allowed}[/dim]")


@settings_app.command("set")
def settings_set(
    name: Annotated[str, typer.Argument(help="The setting (billfold settings show lists them).")],
    value: Annotated[str, typer.Argument(help="Its new value.")],
    account: Annotated[str, typer.Option(help="Account (tenant) name.")] = "default",
) -> None:
    """Change one of the account's billing settings; it applies to what is scheduled from now on."""
    from billfold.app.account_settings import SETTINGS, parse
    from billfold.app.errors import InvalidRequest
    from billfold.main import build_runtime

    try:
        parsed = parse(name, value)
    except InvalidRequest as e:
        console.print(f"[red]{e.message}[/red]")
        raise typer.Exit(2) from None
    accounts = build_runtime().services.accounts
    account_id = accounts.ensure_account(account)
    accounts.set_account_setting(account_id, name, parsed)
    console.print(f"{name} = {SETTINGS[name].show(parsed)} for account {account} ({account_id})")


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8420,
    customers: Annotated[int, typer.Option(min=0, help="How many demo customers to seed.")] = 300,
    account: Annotated[str, typer.Option(help="The account to seed (created on first use).")] = "demo",
    serve_after: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after seeding.")
    ] = True,
) -> None:
    """Seed the reference customer's catalog and customers, run them through three months on test clocks (once),
    print a summary, how to call the API, and serve."""
    from billfold.demo import run_demo

    run_demo(console, host=host, port=port, customers=customers, account=account)
    if serve_after:
        serve(host=host, port=port, log_level="warning", worker=True)


if __name__ == "__main__":
    app()

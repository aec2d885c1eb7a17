"""The CLI contract scripts depend on: ``billfold db upgrade``, ``billfold keys create`` (key on the last line) and
``billfold serve --host --port`` serving the API to the official SDK, on a fresh database from BILLFOLD_DATABASE_URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import stripe

BILLFOLD = [sys.executable, "-m", "billfold.cli"]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "BILLFOLD_DATABASE_URL": url}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_keys_create_prints_the_key_last_and_serve_answers_the_sdk(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    up = subprocess.run(
        [*BILLFOLD, "db", "upgrade"], env=_env(url), capture_output=True, text=True, check=True
    )
    assert "revision" in up.stdout
    live = subprocess.run(
        [*BILLFOLD, "keys", "create", "--mode", "live", "--account", "acme"],
        env=_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    assert live.stdout.strip().splitlines()[-1].startswith("sk_live_")
    test = subprocess.run(
        [*BILLFOLD, "keys", "create", "--account", "acme"],
        env=_env(url),
        capture_output=True,
        text=True,
        check=True,
    )
    key = test.stdout.strip().splitlines()[-1]
    assert key.startswith("sk_test_")
    bad = subprocess.run([*BILLFOLD, "keys", "create", "--mode", "prod"], env=_env(url), capture_output=True)
    assert bad.returncode != 0

    port = _free_port()
    server = subprocess.Popen(
        [*BILLFOLD, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else b""
            assert time.monotonic() < deadline, "billfold serve did not come up"
            time.sleep(0.1)
        client = stripe.StripeClient(
            key, base_addresses={"api": f"http://127.0.0.1:{port}"}, max_network_retries=0
        )
        cus = client.v1.customers.create(params={"email": "cli@example.com"})
        assert client.v1.customers.retrieve(cus.id).email == "cli@example.com"
    finally:
        server.terminate()
        server.wait(timeout=15)

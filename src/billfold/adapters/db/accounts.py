"""Accounts (tenants), hashed API keys and the idempotency-key store."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from billfold.app.errors import IdempotencyConflict, IdempotencyInProgress
from billfold.app.ports import Clock, KeyInfo, Scope, StoredResponse
from billfold.ids import new_id, random_token

from .engine import READONLY
from .schema import accounts, api_keys, idempotency_keys

# A claim whose request never finished (the process died) may be taken over after this many seconds.
STALE_CLAIM_SECONDS = 60
# Stripe keeps idempotency keys for at least 24 hours; we keep them for 48.
KEY_RETENTION_SECONDS = 48 * 3600


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class SqlAccounts:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def ensure_account(self, name: str) -> str:
        with self.engine.begin() as conn:
            row = conn.execute(select(accounts.c.id).where(accounts.c.name == name)).first()
            if row is not None:
                return str(row.id)
            account_id = new_id("account", 16)
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(accounts).values(
                            id=account_id,
                            name=name,
                            created=self.clock.now(),
                            settings={"invoice_prefix": None},
                        )
                    )
            except IntegrityError:
                row = conn.execute(select(accounts.c.id).where(accounts.c.name == name)).one()
                return str(row.id)
            return account_id

    def create_key(self, account_id: str, livemode: bool) -> str:
        secret = ("sk_live_" if livemode else "sk_test_") + random_token(40)
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    id=new_id("api_key"),
                    account_id=account_id,
                    livemode=livemode,
                    key_hash=hash_secret(secret),
                    redacted=secret[:8] + "..." + secret[-4:],
                    created=self.clock.now(),
                    revoked=False,
                )
            )
        return secret

    def resolve_key(self, secret: str) -> KeyInfo | None:
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            row = conn.execute(
                select(api_keys.c.id, api_keys.c.account_id, api_keys.c.livemode).where(
                    api_keys.c.key_hash == hash_secret(secret), api_keys.c.revoked.is_(False)
                )
            ).first()
        if row is None:
            return None
        return KeyInfo(key_id=row.id, account_id=row.account_id, livemode=bool(row.livemode))

    def account_setting(self, account_id: str, name: str) -> Any:
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            row = conn.execute(select(accounts.c.settings).where(accounts.c.id == account_id)).first()
        return None if row is None else (row.settings or {}).get(name)

    def set_account_setting(self, account_id: str, name: str, value: Any) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(
                select(accounts.c.settings).where(accounts.c.id == account_id).with_for_update()
            ).first()
            if row is None:
                raise LookupError(f"no account {account_id}")
            settings = dict(row.settings or {})
            settings[name] = value
            conn.execute(update(accounts).where(accounts.c.id == account_id).values(settings=settings))

    def account_names(self) -> dict[str, str]:
        with self.engine.connect().execution_options(**{READONLY: True}) as conn:
            return {r.id: r.name for r in conn.execute(select(accounts.c.id, accounts.c.name))}


class SqlIdempotencyKeys:
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def _where(self, scope: Scope, key: str) -> Any:
        c = idempotency_keys.c
        return (c.account_id == scope.account_id) & (c.livemode == scope.livemode) & (c.key == key)

    def claim(self, scope: Scope, key: str, request_hash: str) -> StoredResponse | None:
        now = self.clock.now()
        c = idempotency_keys.c
        with self.engine.begin() as conn:
            # Forget keys past retention so the table stays bounded.
            conn.execute(delete(idempotency_keys).where(c.created < now - KEY_RETENTION_SECONDS))
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(idempotency_keys).values(
                            account_id=scope.account_id,
                            livemode=scope.livemode,
                            key=key,
                            request_hash=request_hash,
                            created=now,
                            request_id=scope.request_id,
                        )
                    )
                return None
            except IntegrityError:
                pass
            row = conn.execute(
                select(c.request_hash, c.status_code, c.body, c.created).where(self._where(scope, key))
            ).first()
            if row is None:  # released between our insert and select: the caller may retry
                raise IdempotencyInProgress(
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            if row.request_hash != request_hash:
                raise IdempotencyConflict(
                    "Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request."
                )
            if row.status_code is None:
                if row.created < now - STALE_CLAIM_SECONDS:
                    conn.execute(update(idempotency_keys).where(self._where(scope, key)).values(created=now))
                    return None
                raise IdempotencyInProgress(
                    "There is currently another in-progress request using this Idempotent Key "
                    "(that probably means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    code="idempotency_key_in_use",
                )
            return StoredResponse(int(row.status_code), bytes(row.body))

    def complete(self, scope: Scope, key: str, response: StoredResponse) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(idempotency_keys)
                .where(self._where(scope, key))
                .values(status_code=response.status_code, body=response.body)
            )

    def release(self, scope: Scope, key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(idempotency_keys).where(self._where(scope, key)))

"""Throwaway PostgreSQL clusters for the test suite.

Pure standard library at import time (``psycopg`` is imported lazily by the
database helpers only), so it can run before the virtualenv exists::

    python tests/support/pg.py start DIR   # last stdout line: SQLAlchemy URL
    python tests/support/pg.py url DIR     # URL of the cluster in DIR
    python tests/support/pg.py stop DIR
    python tests/support/pg.py bin         # PostgreSQL bin dir, exit 1 if none

(``python -m tests.support.pg ...`` works too, from the repository root.)

Layout of DIR (which must be empty, missing, or a previous cluster made by
this module -- a stale one is stopped and wiped)::

    DIR/.billfold-pg.json   marker + state (port, user, bin dir, url)
    DIR/data/               PGDATA
    DIR/sock/               unix socket directory
    DIR/postgres.log        server log

PostgreSQL refuses to run as root, so when euid == 0 ``initdb``/``postgres``
run as the unprivileged system user ``billfold-pg`` (created on demand).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PG_SYSTEM_USER = "billfold-pg"
DB_SUPERUSER = "postgres"
DB_NAME = "billfold"
STATE_FILE = ".billfold-pg.json"
START_TIMEOUT = 60.0
# sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS); keep a margin.
_MAX_SOCKET_DIR_LEN = 90

_SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "log_min_messages": "warning",
    "log_line_prefix": "'%m [%p] %d '",
}

_REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")


class PgError(RuntimeError):
    """Raised when a cluster cannot be found, started or stopped."""


def _log(msg: str) -> None:
    print(f"[pg] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- binaries


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _REQUIRED_BINARIES)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version, "9.6" -> (9, 6)
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (-1,)


def find_pg_bin() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres, or None.

    ``$BILLFOLD_PG_BIN``, if set, is the only candidate (pick a version; or
    point it at a non-existent path to simulate "no PostgreSQL"). Otherwise
    PATH first (symlinks are resolved, so Debian-style
    ``/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin/pg_ctl`` works),
    then ``/usr/lib/postgresql/*/bin`` newest version first.
    """
    override = os.environ.get("BILLFOLD_PG_BIN")
    if override:
        forced = Path(override).resolve()
        return forced if _has_server_binaries(forced) else None
    for name in ("pg_ctl", "initdb", "postgres"):
        found = shutil.which(name)
        if found:
            bindir = Path(found).resolve().parent
            if _has_server_binaries(bindir):
                return bindir
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    return None


def _require_pg_bin() -> Path:
    bindir = find_pg_bin()
    if bindir is None:
        raise PgError(
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH "
            "or in /usr/lib/postgresql/*/bin; install PostgreSQL (Debian: apt-get install postgresql) "
            "or set BILLFOLD_TEST_POSTGRES_URL"
        )
    return bindir


# --------------------------------------------------------------------------- privileges


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ensure_system_user() -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        _log(f"creating system user {PG_SYSTEM_USER!r} (PostgreSQL refuses to run as root)")
        if shutil.which("useradd"):
            cmd = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER]
        elif shutil.which("adduser"):  # busybox / alpine
            cmd = ["adduser", "-S", "-D", "-H", PG_SYSTEM_USER]
        else:
            raise PgError(
                f"cannot create user {PG_SYSTEM_USER!r}: neither useradd nor adduser found"
            ) from None
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        # exit 9 = "already exists" (a concurrent run won the race)
        if proc.returncode not in (0, 9):
            raise PgError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}") from None
        entry = pwd.getpwnam(PG_SYSTEM_USER)
    return entry.pw_uid, entry.pw_gid


def _as_pg_user(cmd: list[str]) -> list[str]:
    """Prefix *cmd* so it runs unprivileged when we are root."""
    if not _is_root():
        return cmd
    uid, gid = _ensure_system_user()
    if shutil.which("runuser"):
        return ["runuser", "-u", PG_SYSTEM_USER, "--", *cmd]
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--", *cmd]
    raise PgError("running as root but neither runuser nor setpriv is available to drop privileges")


def _chown_tree(path: Path) -> None:
    if not _is_root():
        return
    uid, gid = _ensure_system_user()
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(FileNotFoundError):
                os.lchown(os.path.join(root, name), uid, gid)


def _run(cmd: list[str], *, cwd: Path, what: str, timeout: float = 120.0) -> str:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.pop("PGDATA", None)
    try:
        proc = subprocess.run(
            _as_pg_user(cmd),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PgError(f"{what} timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        raise PgError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}".rstrip())
    return proc.stdout


# --------------------------------------------------------------------------- state


def _state_path(d: Path) -> Path:
    return d / STATE_FILE


def _read_state(d: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(_state_path(d).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_state(d: Path, state: dict[str, Any]) -> None:
    tmp = _state_path(d).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(_state_path(d))


def _postmaster_pid(data: Path) -> int | None:
    """PID of a live postmaster for *data*, or None (missing/stale pid file)."""
    try:
        pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # exists, owned by someone else
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # Linux: make sure the PID was not recycled
        try:
            argv0 = cmdline.read_bytes().split(b"\0", 1)[0].decode(errors="replace")
        except OSError:
            return None
        if "postgres" not in os.path.basename(argv0) and "postmaster" not in argv0:
            return None
    return pid


# --------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_accepting(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise PgError(f"postgres did not accept connections on 127.0.0.1:{port}") from None
            time.sleep(0.1)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _sqlalchemy_url(port: int, dbname: str = DB_NAME, user: str = DB_SUPERUSER) -> str:
    return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{dbname}"


def _prepare_dir(d: Path) -> None:
    """Make *d* an empty directory, refusing to wipe anything that is not ours."""
    if d.exists() and not d.is_dir():
        raise PgError(f"{d} exists and is not a directory")
    if d.is_dir() and any(d.iterdir()):
        if _read_state(d) is None and not (d / "data" / "PG_VERSION").exists():
            raise PgError(f"{d} is not empty and was not created by tests/support/pg.py; refusing to wipe it")
        stop(d)
        for child in d.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    d.mkdir(parents=True, exist_ok=True)


def _check_accessible(d: Path) -> None:
    if not _is_root():
        return
    probe = _as_pg_user(["test", "-w", str(d), "-a", "-x", str(d)])
    if subprocess.run(probe, check=False).returncode != 0:
        raise PgError(
            f"{d} is not reachable by user {PG_SYSTEM_USER!r} (a parent directory is probably "
            "mode 0700, e.g. /root); use a directory under /tmp"
        )


# --------------------------------------------------------------------------- public API


def start(dir: str | os.PathLike[str]) -> str:
    """Create and start a throwaway cluster in *dir*; return its SQLAlchemy URL.

    The URL points at database ``billfold`` as superuser ``postgres`` (trust auth).
    """
    bindir = _require_pg_bin()
    d = Path(dir).absolute()
    _prepare_dir(d)
    _chown_tree(d)
    _check_accessible(d)

    data = d / "data"
    sockdir = d / "sock"
    sockdir.mkdir()
    _chown_tree(sockdir)
    log = d / "postgres.log"

    _log(f"initdb ({bindir}) -> {data}")
    _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            DB_SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ],
        cwd=d,
        what="initdb",
    )

    settings = dict(_SERVER_SETTINGS)
    sock = str(sockdir)
    settings["unix_socket_directories"] = f"'{sock}'" if len(sock) <= _MAX_SOCKET_DIR_LEN else "''"
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# --- billfold test cluster (tests/support/pg.py) ---\n")
        conf.writelines(f"{k} = {v}\n" for k, v in settings.items())

    last_error: PgError | None = None
    for _attempt in range(5):
        port = _free_port()
        try:
            _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    f"-p {port}",
                    "-w",
                    "-t",
                    str(int(START_TIMEOUT)),
                    "start",
                ],
                cwd=d,
                what="pg_ctl start",
                timeout=START_TIMEOUT + 15,
            )
        except PgError as exc:
            last_error = exc
            if "already in use" in _tail(log) and _postmaster_pid(data) is None:
                _log(f"port {port} was taken, retrying")
                continue
            raise PgError(f"{exc}\n--- {log} ---\n{_tail(log)}") from None
        break
    else:
        raise PgError(f"could not start postgres: {last_error}")

    _wait_accepting(port, START_TIMEOUT)
    state = {
        "bin": str(bindir),
        "port": port,
        "user": DB_SUPERUSER,
        "socket_dir": sock,
        "url": _sqlalchemy_url(port),
        "pid": _postmaster_pid(data),
    }
    _write_state(d, state)

    _create_database_cli(bindir, port, DB_NAME, cwd=d)
    _log(f"postgres running on 127.0.0.1:{port} (data {data}, log {log})")
    return str(state["url"])


def url(dir: str | os.PathLike[str]) -> str:
    """SQLAlchemy URL of the cluster previously started in *dir*."""
    state = _read_state(Path(dir))
    if state is None:
        raise PgError(f"no cluster state in {dir}")
    return str(state["url"])


def stop(dir: str | os.PathLike[str]) -> None:
    """Stop the cluster in *dir* if it is running. Idempotent; keeps the files."""
    d = Path(dir).absolute()
    data = d / "data"
    pid = _postmaster_pid(data)
    if pid is None:
        return
    bindir_s = (_read_state(d) or {}).get("bin")
    bindir = Path(bindir_s) if bindir_s else find_pg_bin()
    if bindir is not None and (bindir / "pg_ctl").exists():
        for mode in ("fast", "immediate"):
            try:
                _run(
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "30", "stop"],
                    cwd=d,
                    what=f"pg_ctl stop -m {mode}",
                    timeout=45,
                )
            except PgError as exc:
                _log(str(exc))
                continue
            return
    # Last resort: signal the postmaster directly (SIGQUIT = immediate shutdown).
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)
    deadline = time.monotonic() + 10
    while _postmaster_pid(data) is not None and time.monotonic() < deadline:
        time.sleep(0.1)


@contextlib.contextmanager
def temporary_cluster(prefix: str = "billfold-pg-") -> Iterator[str]:
    """Start a cluster in a fresh temp dir, yield its URL; stop it and delete the dir on exit."""
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        yield start(d)
    finally:
        try:
            stop(d)
        finally:
            shutil.rmtree(d, ignore_errors=True)


def psycopg_url(url: str) -> str:
    """``postgresql+psycopg://...`` -> ``postgresql://...`` (what psycopg.connect wants)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.split("+", 1)[0]))


def with_database(url: str, name: str) -> str:
    """*url* with its database name replaced by *name* (driver suffix kept)."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _admin_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(psycopg_url(with_database(url, "postgres")), autocommit=True)


def create_database(url: str, name: str) -> str:
    """Create database *name* (dropping a leftover one first); return its URL.

    *url* may point at any database of the server (SQLAlchemy or plain form).
    Needs psycopg, so call it from tests, not from bootstrap scripts.
    """
    from psycopg import sql

    with _admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(url, name)


def drop_database(url: str, name: str) -> None:
    """Drop database *name* if it exists, terminating its connections."""
    from psycopg import sql

    with _admin_connect(url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create_database_cli(bindir: Path, port: int, name: str, *, cwd: Path) -> None:
    createdb = bindir / "createdb"
    if createdb.exists():
        _run(
            [str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", DB_SUPERUSER, name],
            cwd=cwd,
            what=f"createdb {name}",
        )
    else:  # client tools not installed next to the server: fall back to psycopg
        create_database(_sqlalchemy_url(port), name)


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    usage = "usage: pg.py start DIR | stop DIR | url DIR | bin"
    try:
        if args == ["bin"]:
            bindir = find_pg_bin()
            if bindir is None:
                return 1
            print(bindir)
        elif len(args) == 2 and args[0] == "start":
            print(start(args[1]), flush=True)
        elif len(args) == 2 and args[0] == "stop":
            stop(args[1])
        elif len(args) == 2 and args[0] == "url":
            print(url(args[1]))
        else:
            print(usage, file=sys.stderr)
            return 2
    except PgError as exc:
        print(f"[pg] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

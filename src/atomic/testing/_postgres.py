"""A throwaway PostgreSQL server for tests and benchmarks, from the machine's binaries.

```python
with postgres_cluster() as url:   # postgresql://atomic:...@127.0.0.1:PORT/atomic_test
    ...
```

``initdb`` runs in a temporary folder and the server listens on a free loopback port; it is
stopped and its folder removed on exit. PostgreSQL refuses to run as root, so as root the
server runs as an unprivileged user (the ``postgres`` account when it exists, else one
created here). Durability is off (no fsync): nothing here is meant to be kept.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from atomic._net import free_port
from atomic.errors import ConfigError

__all__ = ["create_database", "drop_database", "postgres_cluster"]

_USER = "atomic"
_PASSWORD = "atomic-test-password"
_DATABASE = "atomic_test"
_SERVICE_ACCOUNT = "atomic-postgres"


@dataclass(frozen=True)
class _Account:
    uid: int
    gid: int


def _find_binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    # Newest major version first: "9.6" < "10" numerically, not as text.
    debian.sort(key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()])
    candidates.extend(Path(p) for p in reversed(debian))
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ConfigError(
        "PostgreSQL's server binaries (initdb, pg_ctl, postgres) were not found on PATH, by "
        "pg_config or in /usr/lib/postgresql/*/bin",
        hint="install them, e.g. `apt-get install postgresql`",
        context={"searched": [str(c) for c in candidates]},
    )


def _server_account() -> _Account | None:
    """Who runs the server: ourselves unless we are root, who may not."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", _SERVICE_ACCOUNT):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _Account(entry.pw_uid, entry.pw_gid)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
         _SERVICE_ACCOUNT],
        capture_output=True,
        check=True,
    )  # fmt: skip
    entry = pwd.getpwnam(_SERVICE_ACCOUNT)
    return _Account(entry.pw_uid, entry.pw_gid)


def _run_as(account: _Account | None, args: list[str], **kwargs: Any) -> str:
    as_user: dict[str, Any] = {}
    if account is not None:
        as_user = {"user": account.uid, "group": account.gid, "extra_groups": []}
    result = subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
        **as_user,
        **kwargs,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return str(result.stdout)


def _chown_tree(root: Path, account: _Account) -> None:
    os.chown(root, account.uid, account.gid)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(folder, name), account.uid, account.gid)


def _admin_conninfo(url: str) -> str:
    """The same server, logged into the `postgres` maintenance database."""
    return url.rsplit("/", 1)[0] + "/postgres"


@contextmanager
def postgres_cluster(database: str = _DATABASE) -> Iterator[str]:
    """Start a server, create ``database``, yield its ``postgresql://`` URL, then tear down."""
    bindir = _find_binaries()
    account = _server_account()
    # A fresh folder readable by the server's account; a short path keeps the unix socket
    # under the OS's path-length limit.
    root = Path(tempfile.mkdtemp(prefix="atomic-pg-"))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    pwfile = root / "pwfile"
    pwfile.write_text(_PASSWORD + "\n")
    sockets.mkdir()
    if account is not None:
        _chown_tree(root, account)
    started = False
    try:
        _run_as(
            account,
            [
                str(bindir / "initdb"), "-D", str(data), "-U", _USER,
                f"--pwfile={pwfile}", "--auth-host=scram-sha-256", "--auth-local=trust",
                "--no-locale", "--encoding=UTF8", "--no-sync",
            ],
        )  # fmt: skip
        port = 0
        for _ in range(3):  # another process may take the free port before the server does
            port = free_port()
            options = (
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            try:
                _run_as(
                    account,
                    [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                     "-o", options, "start"],
                )  # fmt: skip
            except RuntimeError:
                continue
            started = True
            break
        if not started:
            server_log = log.read_text(errors="replace") if log.exists() else "(no log)"
            raise RuntimeError(f"PostgreSQL did not start:\n{server_log}")
        url = f"postgresql://{_USER}:{_PASSWORD}@127.0.0.1:{port}/{database}"
        create_database(url, database)
        yield url
    finally:
        if started:
            # `immediate`: nothing to keep, and a lingering connection must not hold it up.
            with suppress(RuntimeError):  # already gone: nothing left to stop
                _run_as(
                    account,
                    [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                )
        shutil.rmtree(root, ignore_errors=True)


def create_database(url: str, name: str | None = None) -> str:
    """Create a database on the server of ``url`` (a new unique one if no name); its URL."""
    name = name or f"t_{uuid.uuid4().hex}"
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    """Drop the database of ``url``, even if a connection to it was left open."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))

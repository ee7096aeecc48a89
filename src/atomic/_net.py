"""Loopback helpers: free ports for the throwaway servers Atomic starts, and offline mode's
guard on every connection the process opens.

The guard is an audit hook (PEP 578) on ``socket.connect``, ``socket.sendto`` and
``socket.sendmsg``: every socket the Python ``socket`` module opens passes through it, whatever
library holds the socket (httpx, asyncio, urllib), where patching ``socket.socket.connect``
misses code that reaches ``_socket`` directly. Loopback, ``0.0.0.0``/``::`` (this machine),
Unix sockets and netlink pass; anything else raises :class:`OfflineError`. Sockets a C library
opens itself (libpq, Temporal's core) never reach Python: :func:`check_offline_address` is
for the addresses Atomic hands them. An audit hook cannot be removed, so it is installed once
and is active while any :func:`enforce_offline` is held.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from atomic.errors import AtomicError

__all__ = [
    "OfflineError",
    "check_offline_address",
    "enforce_offline",
    "free_port",
    "is_local_host",
    "offline_enforced",
]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OfflineError(AtomicError, ConnectionRefusedError):
    """Offline mode refused a connection to something other than this machine.

    Also a ``ConnectionRefusedError``: libraries that try several addresses (anyio, under
    httpx) handle it as a failed connection, instead of wrapping an unknown error in an
    ``ExceptionGroup``.
    """

    code = "offline.connection_refused"


_GUARDED_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
_LOCAL_FAMILIES = frozenset(
    getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name)
)
_lock = threading.Lock()
_holds = 0
_hook_installed = False


def _is_local_ip(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def is_local_host(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine; a name must resolve only to
    loopback addresses."""
    host = host.strip("[]")
    if not host or host == "localhost" or host.endswith(".localhost") or _is_local_ip(host):
        return True
    try:
        resolved = socket.getaddrinfo(host, None)
    except OSError:
        return False  # a name that does not resolve cannot be shown to be local
    return bool(resolved) and all(_is_local_ip(str(info[4][0])) for info in resolved)


def _refusal(host: str, port: Any, what: str) -> OfflineError:
    where = f"{host}:{port}" if port is not None else host
    return OfflineError(
        f"offline mode (ATOMIC_OFFLINE=1) refused {what} {where}: only loopback and Unix-socket "
        "connections are allowed",
        hint=f"unset ATOMIC_OFFLINE (or offline in atomic.toml) to reach {host}, or point what "
        "connects there at this machine (a model server or database on 127.0.0.1)",
        context={"host": host, "port": port, "what": what},
    )


def check_offline_address(host: str, port: Any = None, *, what: str = "a connection to") -> None:
    """Raise :class:`OfflineError` if offline mode is on and ``host`` is not this machine."""
    if _holds and not is_local_host(host):
        raise _refusal(host, port, what)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _holds or event not in _GUARDED_EVENTS:
        return
    sock, address = args[0], args[1]
    if address is None or getattr(sock, "family", None) in _LOCAL_FAMILIES:
        return
    if not isinstance(address, tuple) or not address:
        return  # a Unix path (str or bytes): this machine
    host = address[0].decode() if isinstance(address[0], bytes) else str(address[0])
    port = address[1] if len(address) > 1 else None
    if not is_local_host(host):
        raise _refusal(host, port, "a connection to" if event == "socket.connect" else "sending to")


def enforce_offline() -> Callable[[], None]:
    """Refuse every non-loopback connection of this process until the returned function is
    called (each hold is released once; the guard stays while any is held)."""
    global _holds, _hook_installed
    with _lock:
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
        _holds += 1
    released = False

    def release() -> None:
        global _holds
        nonlocal released
        with _lock:
            if not released:
                released = True
                _holds -= 1

    return release


def offline_enforced() -> bool:
    """Whether the offline guard is active now."""
    return _holds > 0

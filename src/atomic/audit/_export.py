"""Signed exports of the egress ledger: HMAC-SHA256 with ``ATOMIC_AUDIT_KEY``.

HMAC rather than a public-key signature because no signing library is installed
(``cryptography`` is not a dependency): whoever checks an export needs the same secret.
The signature covers the canonical JSON of the whole document but its ``signature`` field;
the document also carries the chain's head at export time, so truncating the ledger later
(which the chain alone cannot reveal) shows against a kept export.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from atomic.audit._entry import EgressEntry
from atomic.audit._verify import ChainReport
from atomic.errors import ConfigError
from atomic.storage import utcnow

__all__ = ["EXPORT_FORMAT", "export_document", "require_audit_key", "verify_export"]

EXPORT_FORMAT = "atomic-egress-ledger/1"
ALGORITHM = "HMAC-SHA256"


def require_audit_key(key: SecretStr | None) -> SecretStr:
    """The export key, or a ConfigError naming the variable that holds it."""
    if key is None or not key.get_secret_value():
        raise ConfigError(
            "signing an egress-ledger export needs a key, and ATOMIC_AUDIT_KEY is not set",
            hint="export ATOMIC_AUDIT_KEY=<a long random secret> (e.g. from "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`) and keep it: "
            "checking the export needs the same key",
            context={"variable": "ATOMIC_AUDIT_KEY"},
        )
    return key


def _key_id(key: SecretStr) -> str:
    # Names the key without revealing it, so a checker can tell which key to use.
    return hashlib.sha256(b"atomic-audit-key-id:" + key.get_secret_value().encode()).hexdigest()[
        :16
    ]


def _canonical(document: dict[str, Any]) -> bytes:
    unsigned = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _mac(key: SecretStr, document: dict[str, Any]) -> str:
    return hmac.new(key.get_secret_value().encode(), _canonical(document), "sha256").hexdigest()


def export_document(
    entries: Sequence[EgressEntry],
    report: ChainReport,
    key: SecretStr | None,
    *,
    tenant: str | None = None,
    exported_at: datetime | None = None,
) -> dict[str, Any]:
    """The entries, the chain's state when exported, and an HMAC-SHA256 signature by ``key``."""
    signing_key = require_audit_key(key)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": (exported_at or utcnow()).isoformat(),
        "tenant": tenant,
        "chain": {
            "entries": report.entries,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "verified": report.ok,
            "problems": [p.message for p in report.problems],
        },
        "entries": [e.model_dump(mode="json") for e in entries],
    }
    document["signature"] = {
        "algorithm": ALGORITHM,
        "key_id": _key_id(signing_key),
        "value": _mac(signing_key, document),
    }
    return document


def verify_export(document: dict[str, Any], key: SecretStr | None) -> bool:
    """Whether ``document`` is an export signed by ``key`` and unchanged since."""
    signing_key = require_audit_key(key)
    signature = document.get("signature")
    if not isinstance(signature, dict) or signature.get("algorithm") != ALGORITHM:
        return False
    value = signature.get("value")
    return isinstance(value, str) and hmac.compare_digest(value, _mac(signing_key, document))

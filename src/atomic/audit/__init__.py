"""The egress ledger: an append-only, hash-chained record of task data sent off this machine.

Before an OpenAI-compatible model whose residency is not ``local`` is sent a request, the
ledger appends an entry: time, tenant, run, model, endpoint host, residency and region, the
policy digest and rule that allowed it, the byte count and SHA-256 of the exact payload, and
which input fields were sent, redacted or withheld. A request that cannot be recorded is not
sent. Each entry holds the previous entry's hash, so an edit or a deletion shows when the
chain is verified (``atomic audit verify``); exports are signed with ``ATOMIC_AUDIT_KEY``.

```python
async with await Atomic.open() as atomic:
    report = await atomic.egress.verify()
    print(report.ok, report.entries, [p.message for p in report.problems])
```
"""

from atomic.audit._entry import GENESIS_HASH, EgressEntry, entry_hash
from atomic.audit._export import EXPORT_FORMAT, export_document, require_audit_key, verify_export
from atomic.audit._ledger import EgressLedger, EgressNotRecordedError, entries_json
from atomic.audit._scope import RunScope, current_scope, egress_scope, note_run, policy_version
from atomic.audit._verify import ChainProblem, ChainReport, verify_chain, verify_entries

__all__ = [
    "EXPORT_FORMAT",
    "GENESIS_HASH",
    "ChainProblem",
    "ChainReport",
    "EgressEntry",
    "EgressLedger",
    "EgressNotRecordedError",
    "RunScope",
    "current_scope",
    "egress_scope",
    "entries_json",
    "entry_hash",
    "export_document",
    "note_run",
    "policy_version",
    "require_audit_key",
    "verify_chain",
    "verify_entries",
    "verify_export",
]

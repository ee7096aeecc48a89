"""Lineage: the provenance graph of runs, from the relational store.

A run used remembered examples (``run_examples``, written with its auction record); each
example was learned from an earlier run and the feedback on it; that run used examples of
its own. :func:`build_lineage` walks that graph back from a run, :func:`build_influence`
forward from an example (its blast radius), both with recursive queries on SQLite and
PostgreSQL; :func:`to_prov` exports a lineage as W3C PROV-JSON.

```python
lineage = await atomic.lineage(run_id)
for run in lineage.runs:
    print(run.depth, run.id, [e.example_id for e in run.examples])
influence = await atomic.influence(example_id)
print(influence.direct, len(influence.runs))
```
"""

from atomic.lineage._build import DEFAULT_DEPTH, build_influence, build_lineage
from atomic.lineage._graph import (
    ClassifierUse,
    ExampleNotFoundError,
    ExampleUsed,
    FeedbackNode,
    Influence,
    InfluencedRun,
    Lineage,
    RunNode,
)
from atomic.lineage._prov import to_prov

__all__ = [
    "DEFAULT_DEPTH",
    "ClassifierUse",
    "ExampleNotFoundError",
    "ExampleUsed",
    "FeedbackNode",
    "Influence",
    "InfluencedRun",
    "Lineage",
    "RunNode",
    "build_influence",
    "build_lineage",
    "to_prov",
]

"""A lineage graph as a W3C PROV-JSON document (https://www.w3.org/submissions/prov-json/).

```
PROV              identifier (atomic:…)      what it is
activity          run/<id>                   a task call (start time, task, status, cost)
entity            output/<run id>            what the run returned
                  auction/<run id>           its auction record (winner, propensity, margin)
                  task/<name>@<version>      the task (prompt) version it ran: a prov:Plan
                  example/<id>               a remembered example put in its prompt
                  feedback/<id>              feedback on a run (kind, output, reward)
                  classifier/<task>@v<n>     the learned classifier that served it
agent             model/<id>                 the serving model (its card, if registered)
                  source/<name>              who gave feedback (human: a prov:Person)
wasGeneratedBy    output ← run
used              run → auction, task, example (similarity, position), classifier
wasAssociatedWith run → model, with the task version as its plan (price, strategy)
wasDerivedFrom    example ← feedback, example ← the source run's output,
                  feedback ← the output it judged
wasAttributedTo   feedback → source
```

Identifiers are qualified names under the ``atomic`` prefix (:data:`ATOMIC_NAMESPACE`);
attributes Atomic adds are ``atomic:``-qualified, PROV's own ``prov:``-qualified, and a
``prov:type`` is a typed literal (``{"$": "prov:Plan", "type": "xsd:QName"}``). Relations
are keyed ``_:used1``, ``_:used2``… The result is a plain ``dict`` for ``json.dumps``.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import to_jsonable_python

from atomic.lineage._graph import ExampleUsed, Lineage, RunNode

__all__ = ["ATOMIC_NAMESPACE", "to_prov"]

ATOMIC_NAMESPACE = "urn:atomic:lineage:"
"""What the ``atomic`` prefix stands for: a URN, since no web page documents these names."""

_KINDS = ("entity", "activity", "agent")
_RELATIONS = ("wasGeneratedBy", "used", "wasAssociatedWith", "wasDerivedFrom", "wasAttributedTo")


class _Document:
    def __init__(self) -> None:
        self.parts: dict[str, dict[str, Any]] = {k: {} for k in (*_KINDS, *_RELATIONS)}

    def node(self, kind: str, identifier: str, /, **attributes: Any) -> str:
        # A node reached twice (a run that taught two others) keeps its first attributes.
        self.parts[kind].setdefault(identifier, _attributes(attributes))
        return identifier

    def relation(self, kind: str, /, **fields: Any) -> None:
        relations = self.parts[kind]
        relations[f"_:{kind}{len(relations) + 1}"] = _attributes(fields)

    def dump(self) -> dict[str, Any]:
        body = {k: v for k, v in self.parts.items() if v}
        return {"prefix": {"atomic": ATOMIC_NAMESPACE}, **body}


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "prov:type":
            # PROV-JSON's typed literal: the type is a qualified name, not a string.
            out[key] = {"$": value, "type": "xsd:QName"}
            continue
        out[key if ":" in key else f"atomic:{key}"] = to_jsonable_python(value)
    return out


def to_prov(lineage: Lineage) -> dict[str, Any]:
    """The lineage as a PROV-JSON document: a dict with ``prefix``, ``entity``, ``activity``,
    ``agent`` and the relations between them."""
    doc = _Document()
    known = {run.id for run in lineage.runs}
    for run in lineage.runs:
        _add_run(doc, run)
        for use in run.examples:
            _add_example(doc, run, use, known)
    return doc.dump()


def _add_run(doc: _Document, run: RunNode) -> None:
    activity = doc.node(
        "activity",
        f"atomic:run/{run.id}",
        **{"prov:type": "atomic:Run", "prov:startTime": run.created_at.isoformat()},
        task=run.task_name,
        status=run.status,
        cost_usd=run.cost_usd,
        depth=run.depth,
    )
    output = doc.node(
        "entity", f"atomic:output/{run.id}", **{"prov:type": "atomic:Output"}, value=run.output
    )
    doc.relation("wasGeneratedBy", **{"prov:entity": output, "prov:activity": activity})
    auction = doc.node(
        "entity",
        f"atomic:auction/{run.id}",
        **{"prov:type": "atomic:AuctionRecord"},
        winner=run.winner,
        propensity=run.propensity,
        margin=run.margin,
    )
    doc.relation("used", **{"prov:activity": activity, "prov:entity": auction})
    plan = doc.node(
        "entity",
        f"atomic:task/{run.task_name}@{run.task_version}",
        **{"prov:type": "prov:Plan"},
        task=run.task_name,
        version=run.task_version,
    )
    doc.relation("used", **{"prov:activity": activity, "prov:entity": plan})
    if run.model_id is not None:
        agent = doc.node(
            "agent",
            f"atomic:model/{run.model_id}",
            **{"prov:type": "prov:SoftwareAgent"},
            card=run.card,
        )
        doc.relation(
            "wasAssociatedWith",
            **{"prov:activity": activity, "prov:agent": agent, "prov:plan": plan},
            price=run.price,
            strategy=run.strategy,
        )
    if run.classifier is not None and run.classifier.version is not None:
        classifier = doc.node(
            "entity",
            f"atomic:classifier/{run.task_name}@v{run.classifier.version}",
            **{"prov:type": "atomic:Classifier"},
            version=run.classifier.version,
            current_trained_on=run.classifier.trained_on,
        )
        doc.relation("used", **{"prov:activity": activity, "prov:entity": classifier})
    for feedback in run.feedback:
        node = doc.node(
            "entity",
            f"atomic:feedback/{feedback.id}",
            **{"prov:type": "atomic:Feedback", "prov:generatedAtTime": feedback.created_at},
            kind=feedback.kind,
            output=feedback.output,
            reward=feedback.reward,
            superseded_by=feedback.superseded_by,
        )
        doc.relation("wasDerivedFrom", **{"prov:generatedEntity": node, "prov:usedEntity": output})
        person = "prov:Person" if feedback.source == "human" else "prov:Agent"
        source = doc.node("agent", f"atomic:source/{feedback.source}", **{"prov:type": person})
        doc.relation("wasAttributedTo", **{"prov:entity": node, "prov:agent": source})


def _add_example(doc: _Document, run: RunNode, use: ExampleUsed, known: set[str]) -> None:
    example = doc.node(
        "entity",
        f"atomic:example/{use.example_id}",
        **{"prov:type": "atomic:Example"},
        source=use.source,
        remembered=use.remembered,
    )
    doc.relation(
        "used",
        **{"prov:activity": f"atomic:run/{run.id}", "prov:entity": example},
        similarity=use.similarity,
        position=use.position,
    )
    if use.feedback_id is not None:
        doc.relation(
            "wasDerivedFrom",
            **{
                "prov:generatedEntity": example,
                "prov:usedEntity": f"atomic:feedback/{use.feedback_id}",
            },
        )
    if use.source_run_id is not None and use.source_run_id in known:
        doc.relation(
            "wasDerivedFrom",
            **{
                "prov:generatedEntity": example,
                "prov:usedEntity": f"atomic:output/{use.source_run_id}",
                "prov:activity": f"atomic:run/{use.source_run_id}",
            },
        )

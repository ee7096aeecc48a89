"""Off-policy evaluation: what another policy would have done on logged traffic.

Every auction logs the propensity of its choice (the chance the exploring policy had of
making it), so a deterministic target policy's mean reward can be estimated from the runs it
agrees with, each weighted by 1 / propensity (IPS), and self-normalised (SNIPS), which is
biased a little and varies far less.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["IPSEstimate", "ips"]


@dataclass(frozen=True)
class IPSEstimate:
    """An off-policy estimate of a target policy's mean reward, and how much the log backs it."""

    ips: float
    ips_stderr: float
    """Standard error of ``ips`` (the spread of the weighted rewards over √n)."""
    snips: float | None
    """Self-normalised IPS; ``None`` when the target never agrees with the log."""
    snips_stderr: float | None
    """Delta-method standard error of ``snips``."""
    matched: int
    """Logged choices the target policy would also have made."""
    n: int
    effective_n: float
    """Kish's effective sample size of the importance weights: how many logged rows the
    estimate is really worth."""


def ips(
    matches: Sequence[bool], propensities: Sequence[float], rewards: Sequence[float]
) -> IPSEstimate:
    """Estimate a deterministic policy's value from logs: ``matches[i]`` says whether it would
    have made logged choice ``i``, taken with probability ``propensities[i]`` by the logging
    policy, which earned ``rewards[i]``.

    >>> ips([True, False], [0.5, 0.5], [1.0, 1.0]).ips
    1.0
    """
    n = len(matches)
    if not n == len(propensities) == len(rewards):
        raise ValueError("matches, propensities and rewards must have the same length")
    if n == 0:
        raise ValueError("an IPS estimate needs at least one logged choice")
    if any(not 0 < p <= 1 for p in propensities):
        raise ValueError("propensities must be in (0, 1]")
    weights = [1.0 / p if m else 0.0 for m, p in zip(matches, propensities, strict=True)]
    terms = [w * r for w, r in zip(weights, rewards, strict=True)]
    total = sum(weights)
    weighted = sum(terms)
    squares = sum(w * w for w in weights)
    mean = weighted / n
    spread = math.sqrt(sum((t - mean) ** 2 for t in terms) / max(n - 1, 1))
    snips = weighted / total if total > 0 else None
    snips_stderr = None
    if snips is not None:
        residuals = sum((w * (r - snips)) ** 2 for w, r in zip(weights, rewards, strict=True))
        snips_stderr = math.sqrt(residuals) / total
    return IPSEstimate(
        ips=mean,
        ips_stderr=spread / math.sqrt(n),
        snips=snips,
        snips_stderr=snips_stderr,
        matched=sum(bool(m) for m in matches),
        n=n,
        effective_n=total * total / squares if squares > 0 else 0.0,
    )

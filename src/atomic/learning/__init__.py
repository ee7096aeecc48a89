"""Learning: posteriors over each model's success per task, from outcomes and feedback."""

from atomic.learning._features import DEFAULT_DIMS, Featurizer
from atomic.learning._learner import DEFAULT_QUALITY_PRIOR, Estimate, Learner, LearnerKey
from atomic.learning._posterior import BetaPosterior, ProbitPosterior

__all__ = [
    "DEFAULT_DIMS",
    "DEFAULT_QUALITY_PRIOR",
    "BetaPosterior",
    "Estimate",
    "Featurizer",
    "Learner",
    "LearnerKey",
    "ProbitPosterior",
]

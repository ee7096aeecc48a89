"""Inference-time adaptation: feedback, each task's memory of verified examples, retrieval of
similar examples into prompts, and cheap classifiers learned from the same memory."""

from atomic.adaptation._adaptation import (
    Adaptation,
    AdaptationStatus,
    ClassifierStatus,
    Demonstration,
    ModelEstimate,
)
from atomic.adaptation._classifier import Prediction, TextClassifier
from atomic.adaptation._feedback import FeedbackKind, FeedbackSource, reward_of, trust_of
from atomic.adaptation._learned import LearnedModel
from atomic.adaptation._memory import MemoryChange, TaskMemory
from atomic.adaptation._retrieval import LexicalIndex
from atomic.adaptation._text import input_key, text_of

__all__ = [
    "Adaptation",
    "AdaptationStatus",
    "ClassifierStatus",
    "Demonstration",
    "FeedbackKind",
    "FeedbackSource",
    "LearnedModel",
    "LexicalIndex",
    "MemoryChange",
    "ModelEstimate",
    "Prediction",
    "TaskMemory",
    "TextClassifier",
    "input_key",
    "reward_of",
    "text_of",
    "trust_of",
]

"""Structured output: output types as schemas, constraints, tolerant parsing, validation."""

from atomic.structured._decode import Decoded, decode
from atomic.structured._parse import ParseFailure, parse_tolerant
from atomic.structured._schema import OutputKind, OutputSchema, format_validation_errors
from atomic.structured._typical import typical_output

__all__ = [
    "Decoded",
    "OutputKind",
    "OutputSchema",
    "ParseFailure",
    "decode",
    "format_validation_errors",
    "parse_tolerant",
    "typical_output",
]

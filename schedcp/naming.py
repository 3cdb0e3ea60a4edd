"""Names and label values derived from user-chosen names, made to fit the API server's limits.

A policy's name may be 253 characters, a label value only 63, and every generated name
adds a prefix or a suffix. Cutting alone would let two long names collide, so a name
that has to be shortened keeps a hash of the whole of it.
"""

from __future__ import annotations

import hashlib

NAME_MAX = 253  # a DNS subdomain: most object names
LABEL_VALUE_MAX = 63
_HASH_LENGTH = 10


def fit(name: str, limit: int = NAME_MAX) -> str:
    """`name` itself if it fits in `limit`, else a prefix of it and a hash of all of it."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_LENGTH]
    # Names and label values must end in an alphanumeric character, so must the prefix before "-".
    return f"{name[: limit - _HASH_LENGTH - 1].rstrip('-._')}-{digest}"


def label_value(name: str) -> str:
    return fit(name, LABEL_VALUE_MAX)

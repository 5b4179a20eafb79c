"""Salesforce record ids in one form: the 18-character case-safe id.

Salesforce shows a record id in two forms: 15 characters, case-sensitive (the UI, text and formula
fields, report and CSV exports), and 18 characters, case-insensitive (every API response). The 18
add a 3-character checksum of the case of the 15: for each 5-character chunk, bit i is set when
the chunk's i-th character (i = 0 the first) is an upper-case letter, and the 5-bit number picks a
character of ``A..Z0..5`` -- the rule of the ``CASESAFEID()`` formula function (described step by
step in https://gammone.com/en/programming/how-to-convert-salesforce-id-from-15-to-18-chars and
https://codebycody.com/salesforces-algorithm-for-converting-ids-from-15-to-18-characters). Two
forms compared as text never match, so the connector stores every id in the 18-character form.
"""

from __future__ import annotations

import re
from typing import Any

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?")
_SUFFIX_CHARS = frozenset(_SUFFIX + _SUFFIX.lower())


def checksum(id15: str) -> str:
    """The 3-character case-safety suffix of a 15-character id (``a0D30000001n7Pi`` -> ``EAI``)."""
    out = []
    for start in (0, 5, 10):
        bits = 0
        for i, char in enumerate(id15[start:start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        out.append(_SUFFIX[bits])
    return "".join(out)


def case_safe_id(value: Any) -> str | None:
    """A Salesforce id in its 18-character case-safe form; None for None or blank text.

    A 15-character id gets its checksum (:func:`checksum`); an 18-character id is kept as sent
    (the API's own form), its suffix upper-cased (the suffix is case-insensitive). Surrounding
    spaces are dropped.

    Raises:
        ValueError: the value is not 15 or 18 letters and digits, or an 18-character id's last
            3 characters are outside ``A-Z0-5`` (not an id: a name, a URL, a cut-off value).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if not _ID.fullmatch(text):
        msg = f"{text!r} is not a Salesforce id (15 or 18 letters and digits)"
        raise ValueError(msg)
    if len(text) == 15:
        return text + checksum(text)
    if not set(text[15:]) <= _SUFFIX_CHARS:
        msg = f"{text!r} is not a Salesforce id (its last 3 characters must be A-Z or 0-5)"
        raise ValueError(msg)
    return text[:15] + text[15:].upper()

"""Plate text rules: normalisation, plate-shape filter, format-aware confusable fixes.

- :func:`normalise` keeps upper-case ASCII letters and digits only.
- :class:`PlateFormat` wraps a per-camera regular expression; :meth:`PlateFormat.fix`
  swaps look-alike characters (O/0, I/1, B/8, S/5, Z/2, G/6; D and Q
  read as 0) at the positions where the
  format needs the other kind, choosing the fewest swaps that make the text match.
- :func:`plate_shaped` rejects detections that cannot be a plate (too few or too many
  characters, a box that is not wide and short).
- :func:`edit_distance` / :func:`char_accuracy` compare a read with the truth;
  :func:`edit_ops` says how they differ (substituted, inserted, deleted characters).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
MIN_CHARS = 4
MAX_CHARS = 10
MIN_ASPECT = 1.3
"""Width/height of a text box below which it is not a single-line plate."""
MAX_ASPECT = 12.0

# Letter <-> digit look-alikes, both directions.
_LETTER_TO_DIGIT = {"O": "0", "D": "0", "Q": "0", "I": "1", "B": "8", "S": "5", "Z": "2", "G": "6"}
_DIGIT_TO_LETTER = {"0": "O", "1": "I", "8": "B", "5": "S", "2": "Z", "6": "G"}
MAX_SWAPS = 4
"""A text needing more swaps than this to fit the format is not that format."""

# Named formats for ``--plate-format``; the config takes plain regular expressions.
PRESETS: dict[str, str] = {
    "br": r"[A-Z]{3}[0-9][A-Z0-9][0-9]{2}",  # Brazil: old LLL9999 and Mercosul LLL9L99
    "mercosul": r"[A-Z]{3}[0-9][A-Z][0-9]{2}",  # Mercosul only
    "it": r"[A-Z]{2}[0-9]{3}[A-Z]{2}",  # Italy / France (SIV): LL999LL
    "sk": r"[A-Z]{2}[0-9]{3}[A-Z]{2}",  # Slovakia: LL-999LL
}


def normalise(text: str) -> str:
    """Upper-case ASCII letters and digits only: ``"ab-12 3"`` -> ``"AB123"``."""
    return "".join(c for c in text.upper() if c in ALPHABET)


def plate_shaped(text: str, box_w: float | None = None, box_h: float | None = None) -> bool:
    """Could a normalised read (and its box, when known) be a licence plate?"""
    if not MIN_CHARS <= len(text) <= MAX_CHARS:
        return False
    if box_w is not None and box_h is not None and box_h > 0:
        aspect = box_w / box_h
        if not MIN_ASPECT <= aspect <= MAX_ASPECT:
            return False
    return True


@dataclass(frozen=True, slots=True)
class PlateFormat:
    """A plate regular expression (matched against the whole normalised text)."""

    pattern: str

    @property
    def regex(self) -> re.Pattern[str]:
        return _compile(self.pattern)

    def matches(self, text: str) -> bool:
        return self.regex.fullmatch(text) is not None

    def fix(self, text: str) -> str | None:
        """``text`` with the fewest look-alike swaps that make it match, or None. When no
        swaps suffice, one extra character (a separator, emblem or country letter read as
        text) may be dropped, preferably between a letter and a digit, then at an end."""
        found = self._swap(text)
        if found is not None or len(text) <= MIN_CHARS:
            return found[0] if found else None
        best: tuple[float, str] | None = None
        for i in range(len(text)):
            hit = self._swap(text[:i] + text[i + 1 :])
            if hit is not None:
                cost = hit[1] + _drop_penalty(text, i)
                if best is None or cost < best[0]:
                    best = (cost, hit[0])
        return best[1] if best else None

    def _swap(self, text: str) -> tuple[str, int] | None:
        """The match with the fewest look-alike swaps and their number."""
        if self.matches(text):
            return text, 0
        options = [i for i, c in enumerate(text) if c in _LETTER_TO_DIGIT or c in _DIGIT_TO_LETTER]
        for n in range(1, min(MAX_SWAPS, len(options)) + 1):
            for positions in itertools.combinations(options, n):
                chars = list(text)
                for i in positions:
                    c = chars[i]
                    chars[i] = _LETTER_TO_DIGIT.get(c) or _DIGIT_TO_LETTER[c]
                candidate = "".join(chars)
                if self.matches(candidate):
                    return candidate, n
        return None


def _drop_penalty(text: str, i: int) -> float:
    """How unlikely it is that ``text[i]`` is not part of the plate (0 = likely noise)."""
    if i == 0 or i == len(text) - 1:
        return 0.5
    return 0.0 if text[i - 1].isalpha() != text[i + 1].isalpha() else 1.0


@lru_cache(maxsize=64)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def resolve_format(spec: str | None) -> PlateFormat | None:
    """A preset name (``br``) or a regular expression; None/empty: no format."""
    if not spec:
        return None
    pattern = PRESETS.get(spec.lower(), spec)
    try:
        _compile(pattern)
    except re.error as exc:
        raise ValueError(f"plate format {spec!r} is not a regular expression: {exc}") from None
    return PlateFormat(pattern)


def clean(text: str, fmt: PlateFormat | None = None) -> str | None:
    """Normalise a raw OCR string and apply the format; None when it cannot be a plate."""
    norm = normalise(text)
    if fmt is not None:
        fixed = fmt.fix(norm)
        return fixed if fixed is not None and plate_shaped(fixed) else None
    return norm if plate_shaped(norm) else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    return edit_ops(a, b).total


@dataclass(frozen=True, slots=True)
class Edits:
    """How a read differs from the truth, by one cheapest alignment."""

    substituted: int = 0
    inserted: int = 0
    """Characters in the read that the truth lacks."""
    deleted: int = 0
    """Characters of the truth that the read lacks."""
    inserted_first: int = 0
    """Of ``inserted``, those before the truth's first character (an emblem or country
    band read as a letter, say)."""

    @property
    def total(self) -> int:
        """The edit distance."""
        return self.substituted + self.inserted + self.deleted


def edit_ops(read: str, truth: str) -> Edits:
    """Count the operations of a cheapest edit of ``truth`` into ``read`` (their sum,
    ``total``, is the edit distance); among equal alignments, substitutions are preferred."""
    n, m = len(read), len(truth)
    d = [[i + j if i == 0 or j == 0 else 0 for j in range(m + 1)] for i in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (read[i - 1] != truth[j - 1]))
    sub = ins = dele = first = 0
    i, j = n, m
    while i or j:
        if i and j and d[i][j] == d[i - 1][j - 1] + (read[i - 1] != truth[j - 1]):
            sub += read[i - 1] != truth[j - 1]
            i, j = i - 1, j - 1
        elif i and d[i][j] == d[i - 1][j] + 1:
            ins += 1
            first += j == 0
            i -= 1
        else:
            dele += 1
            j -= 1
    return Edits(sub, ins, dele, first)


def char_accuracy(read: str | None, truth: str) -> float:
    """``1 - edit distance / len(truth)``, floored at 0; a missing read scores 0."""
    if not truth:
        raise ValueError("empty ground-truth text")
    return max(0.0, 1.0 - edit_distance(read or "", truth) / len(truth))


def similar(a: str, b: str, max_ratio: float = 0.34) -> bool:
    """Reads close enough to be the same plate (one bad character in three allowed)."""
    return edit_distance(a, b) <= max(1, int(max_ratio * max(len(a), len(b))))

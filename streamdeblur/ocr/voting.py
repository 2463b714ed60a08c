"""Vote plate reads across consecutive frames so one bad frame never makes a new read.

A :class:`PlateVoter` follows one stream of one camera. Each processed frame's plate
observations join a *track* (the same plate in neighbouring frames: overlapping box or
similar text; see :meth:`PlateVoter._match`). A track yields exactly one :class:`PlateRead`: when it has ``vote_frames``
observations, or when it ends (unseen for ``max_gap`` processed frames) with at least
``min_votes`` of them. Its text is a per-character, confidence-weighted vote over the
observations of the most common length, so a character misread in one frame is outvoted.
A read carries the thumbnail of its best observation (the most confident one that reads the
voted text); once read, a track keeps no thumbnails.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace

from streamdeblur.ocr.plates import PlateFormat, edit_distance, similar

Box = tuple[float, float, float, float]
"""``(x0, y0, x1, y1)`` in frame pixels."""


@dataclass(frozen=True, slots=True)
class Observation:
    """One plate-shaped, normalised read in one frame."""

    text: str
    confidence: float
    box: Box
    thumb: str | None = None
    """Base64 JPEG of the plate in this frame (:func:`~streamdeblur.ocr.thumbs.plate_thumbnail`)."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    """The voted read of one plate passing through the view."""

    text: str
    confidence: float
    """Mean confidence of the observations that voted for this text's length."""
    votes: int
    """Observations whose text equals the voted text."""
    frames: int
    """Observations in the track when the read was made."""
    seq_first: int
    seq_last: int
    thumb: str | None = None
    """Base64 JPEG of the plate from the frame that read it best, when observations had one."""


@dataclass(slots=True)
class _Track:
    obs: list[tuple[int, Observation]] = field(default_factory=list)
    idle: int = 0
    emitted: bool = False

    @property
    def last(self) -> Observation:
        return self.obs[-1][1]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def vote(observations: list[Observation], fmt: PlateFormat | None = None) -> tuple[str, float]:
    """The voted text and the mean confidence of the observations behind it."""
    by_len: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        by_len[len(o.text)].append(o)
    group = max(by_len.values(), key=lambda g: (sum(o.confidence for o in g), len(g)))
    chars = []
    for i in range(len(group[0].text)):
        weights: dict[str, float] = defaultdict(float)
        for o in group:
            weights[o.text[i]] += o.confidence + 1e-6
        chars.append(max(weights.items(), key=lambda kv: kv[1])[0])
    text = "".join(chars)
    if fmt is not None and not fmt.matches(text):
        totals: dict[str, float] = defaultdict(float)
        for o in group:
            totals[o.text] += o.confidence + 1e-6
        text = max(totals.items(), key=lambda kv: kv[1])[0]
    return text, sum(o.confidence for o in group) / len(group)


class PlateVoter:
    """Turns per-frame observations of one camera stream into voted plate reads."""

    def __init__(
        self, vote_frames: int = 5, max_gap: int = 3, min_votes: int | None = None, fmt: PlateFormat | None = None, near_frames: int = 25
    ):
        if vote_frames < 1:
            raise ValueError("vote_frames must be at least 1")
        self.vote_frames = vote_frames
        self.max_gap = max_gap
        """Processed frames without an observation after which a track ends."""
        self.near_frames = near_frames
        """Seq distance within which a misread in the same place may join a track."""
        self.min_votes = min_votes if min_votes is not None else (1 if vote_frames == 1 else max(2, math.ceil(vote_frames / 2)))
        self.fmt = fmt
        self._tracks: list[_Track] = []

    @property
    def active_tracks(self) -> int:
        return len(self._tracks)

    def update(self, seq: int, observations: list[Observation]) -> list[PlateRead]:
        """Add one processed frame (possibly with no observation); returns reads made now."""
        reads: list[PlateRead] = []
        free = list(self._tracks)
        for o in sorted(observations, key=lambda o: -o.confidence):
            best, best_score = None, 0.0
            for t in free:
                score = self._match(seq, o, t)
                if score > best_score:
                    best, best_score = t, score
            if best is None:
                best = _Track()
                self._tracks.append(best)
            else:
                free.remove(best)
            if best.emitted and o.thumb is not None:
                o = replace(o, thumb=None)  # read already made: keep a parked plate's track small
            best.obs.append((seq, o))
            best.idle = -1
        for t in list(self._tracks):
            t.idle += 1
            if not t.emitted and len(t.obs) >= self.vote_frames:
                reads.append(self._read(t))
            elif t.idle >= self.max_gap:
                self._tracks.remove(t)
                if not t.emitted and len(t.obs) >= self.min_votes:
                    reads.append(self._read(t))
        return reads

    def _match(self, seq: int, o: Observation, t: _Track) -> float:
        """How well an observation continues a track (0: it does not). Similar text always
        matches; a different read in the same place matches only in a nearby frame and if
        it is not wholly different (a misread, not the next car in the same spot)."""
        overlap = iou(o.box, t.last.box)
        if similar(o.text, t.last.text):
            return 1.0 + overlap
        near = seq - t.obs[-1][0] <= self.near_frames
        if near and overlap >= 0.3 and edit_distance(o.text, t.last.text) <= max(len(o.text), len(t.last.text)) // 2:
            return overlap
        return 0.0

    def flush(self) -> list[PlateRead]:
        """End every track (end of stream); returns the reads they still owe."""
        reads = [self._read(t) for t in self._tracks if not t.emitted and len(t.obs) >= self.min_votes]
        self._tracks.clear()
        return reads

    def reset(self) -> None:
        """Forget every track without reading (the stream restarted)."""
        self._tracks.clear()

    def _read(self, t: _Track) -> PlateRead:
        t.emitted = True
        observations = [o for _, o in t.obs]
        text, conf = vote(observations, self.fmt)
        pictured = [o for o in observations if o.thumb is not None]
        shown = max(pictured, key=lambda o: (o.text == text, o.confidence)) if pictured else None
        if pictured:
            t.obs = [(seq, replace(o, thumb=None)) for seq, o in t.obs]
        return PlateRead(
            text=text,
            confidence=round(conf, 4),
            votes=sum(o.text == text for o in observations),
            frames=len(observations),
            seq_first=t.obs[0][0],
            seq_last=t.obs[-1][0],
            thumb=shown.thumb if shown else None,
        )

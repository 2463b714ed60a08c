"""Plate OCR rules on their own: normalisation, formats, voting, statistics, pairing."""

from __future__ import annotations

import base64
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamdeblur.config import OutputConfig
from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.consumer import LatestJobs, Pairer, consumer_endpoint, plate_observations
from streamdeblur.ocr.evaluate import gap_closed, load_labels
from streamdeblur.ocr.plates import (
    PlateFormat, char_accuracy, clean, edit_distance, edit_ops, normalise, plate_shaped, resolve_format, similar,
)
from streamdeblur.ocr.reader import TextBox
from streamdeblur.ocr.stats import OcrStats
from streamdeblur.ocr.thumbs import plate_thumbnail
from streamdeblur.ocr.voting import Observation, PlateVoter, vote
from streamdeblur.transport.wire import Header

BR = resolve_format("br")
BOX = (100.0, 50.0, 228.0, 90.0)


def test_normalise_keeps_upper_alphanumerics():
    assert normalise(" ab-12 3.ç\n") == "AB123"
    assert normalise("") == ""


def test_format_fixes_lookalikes_by_position():
    # letters where the format wants digits and digits where it wants letters
    old_br = PlateFormat(r"[A-Z]{3}[0-9]{4}")
    assert old_br.fix("AY09O34") == "AYO9034"
    assert BR.fix("AY09O34") == "AYO9O34"  # Mercosul allows a letter at position 5: kept
    assert BR.fix("8IS1234") == "BIS1234"
    assert BR.fix("JIT7463") == "JIT7463"  # already valid: unchanged
    assert BR.fix("OZB958I") == "OZB9581"
    assert BR.fix("ABC12") is None  # too short for the format
    assert BR.fix("ABCXYZW") is None  # W, X, Y have no digit look-alike
    it = resolve_format("it")
    assert it.fix("RK8S5AJ") == "RK855AJ"
    assert it.fix("RKO99AN") == "RK099AN"


def test_format_prefers_fewest_swaps():
    fmt = PlateFormat(r"[A-Z0-9]{3}[0-9]{2}")
    assert fmt.fix("OOOOO") == "OOO00"


def test_resolve_format_presets_and_errors():
    assert resolve_format(None) is None and resolve_format("") is None
    assert resolve_format("BR").pattern == BR.pattern
    assert resolve_format(r"[A-Z]{2}\d{4}").matches("AB1234")
    with pytest.raises(ValueError, match="not a regular expression"):
        resolve_format("[A-Z")


def test_plate_shape_filter():
    assert plate_shaped("AYO9034", 128, 40)
    assert not plate_shaped("AB1", 60, 30)  # too few characters
    assert not plate_shaped("ABCDEFGHIJKL", 300, 40)  # too many
    assert not plate_shaped("AYO9034", 40, 128)  # tall box: not a plate line
    assert not plate_shaped("AYO9034", 1000, 20)  # a long strip of text
    assert clean("ay0-9034", BR) == "AYO9034"
    assert clean("SALVADOR", BR) is None
    assert clean("SALVADOR") == "SALVADOR"


def test_edit_distance_and_char_accuracy():
    assert edit_distance("AYO9034", "AYO9034") == 0
    assert edit_distance("AYD9034", "AYO9034") == 1
    assert edit_distance("AYO934", "AYO9034") == 1
    assert edit_distance("", "ABC") == 3
    assert char_accuracy("AYD9034", "AYO9034") == pytest.approx(6 / 7)
    assert char_accuracy(None, "AYO9034") == 0.0
    assert char_accuracy("XXXXXXXXXXXXXXXX", "AB") == 0.0
    assert similar("AYO9034", "AYD9034") and not similar("AYO9034", "PJB2414")


def test_edit_ops_count_each_kind_of_error():
    """The operations add up to the edit distance; an emblem read as a first letter is a
    leading insertion (the Slovak shield of docs/BENCHMARKS.md "Where eu reads go wrong")."""
    cases = {("ERK8194", "RK819AM"): (1, 1, 1, 1), ("RK819AM", "RK819AM"): (0, 0, 0, 0), ("", "RK1"): (0, 0, 3, 0),
             ("RKC819AM", "RK819AM"): (0, 1, 0, 0), ("XXRK", "RK"): (0, 2, 0, 2), ("AYD9034", "AYO9034"): (1, 0, 0, 0)}
    for (read, truth), want in cases.items():
        e = edit_ops(read, truth)
        assert (e.substituted, e.inserted, e.deleted, e.inserted_first) == want, (read, truth, e)
        assert e.total == edit_ops(truth, read).total == sum(want[:3])  # the distance, both ways round


def test_gap_interval_resamples_plates():
    """The 95% interval holds the point estimate, narrows with more plates, and is None where
    there is no gap to close."""
    from pathlib import Path

    from streamdeblur.ocr.evaluate import PlateLabel, Sample, gap_interval

    def samples(n_plates: int, draws: int = 3) -> list[Sample]:
        out = []
        for i in range(n_plates):
            label = PlateLabel(Path(f"p{i}.jpg"), (0, 0, 1, 1), "ABC1234")
            deblurred = "ABC1234" if i % 3 else "ABX1234"  # two plates in three fully restored
            blurred = "AB" if i % 2 else "A8C12"
            out += [Sample(label, {"sharp": "ABC1234", "blurred": blurred, "deblurred": deblurred}) for _ in range(draws)]
        return out

    few, many = gap_interval(samples(12)), gap_interval(samples(120))
    point = gap_closed(*(sum(s.char_acc(c) for s in samples(12)) / 36 for c in ("sharp", "blurred", "deblurred")))
    assert few[0] < point < few[1] and many[0] < point < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 2
    same = [Sample(s.label, {c: "ABC1234" for c in ("sharp", "blurred", "deblurred")}) for s in samples(12)]
    assert gap_interval(same) is None and gap_interval(samples(1)) is None


def test_gap_closed():
    assert gap_closed(0.9, 0.5, 0.8) == pytest.approx(0.75)
    assert gap_closed(0.9, 0.5, 0.5) == 0.0
    assert gap_closed(0.8, 0.8, 0.9) is None  # no gap to close


def obs(text: str, conf: float = 0.8, box=BOX) -> Observation:
    return Observation(text, conf, box)


def test_vote_outvotes_one_bad_character():
    text, conf = vote([obs("AYO9034"), obs("AYD9034", 0.9), obs("AYO9034"), obs("AY09034", 0.5)])
    assert text == "AYO9034"
    assert conf == pytest.approx((0.8 + 0.9 + 0.8 + 0.5) / 4)


def test_vote_per_character_merges_partial_errors():
    # no single frame is right, but each position is right in most frames
    text, _ = vote([obs("XYO9034"), obs("AXO9034"), obs("AYO9X34")])
    assert text == "AYO9034"


def test_vote_falls_back_to_a_read_matching_the_format():
    # per-position winner "ABC12X4" breaks the format; the best whole read is used instead
    text, _ = vote([obs("ABC1234", 0.5), obs("ABC12X4", 0.4), obs("ZZZ12X9", 0.4)], BR)
    assert text == "ABC1234"


def test_voter_one_read_per_plate_and_bad_frame_absorbed():
    v = PlateVoter(vote_frames=3)
    reads = []
    texts = ["AYO9034", "AYD9034", "AYO9034", "AYO9034", "AYO9034", "AYO9034"]
    for seq, t in enumerate(texts):
        reads += v.update(seq, [obs(t)])
    assert [r.text for r in reads] == ["AYO9034"]
    assert (reads[0].frames, reads[0].votes, reads[0].seq_first, reads[0].seq_last) == (3, 2, 0, 2)
    for seq in range(6, 10):  # plate leaves: the finished track yields nothing more
        reads += v.update(seq, [])
    assert len(reads) == 1 and v.active_tracks == 0


def test_voter_single_spurious_frame_is_not_a_read():
    v = PlateVoter(vote_frames=5)
    assert v.update(0, [obs("XJ4411", box=(0, 0, 80, 20))]) == []
    assert all(v.update(s, []) == [] for s in range(1, 6))
    assert v.flush() == []


def test_voter_short_track_reads_on_expiry_and_flush():
    v = PlateVoter(vote_frames=5, max_gap=2)
    for seq in range(3):  # 3 of 5 frames (>= min_votes) before the plate leaves
        assert v.update(seq, [obs("PJB2414")]) == []
    assert v.update(3, []) == []
    reads = v.update(4, [])
    assert [r.text for r in reads] == ["PJB2414"]
    for seq in range(10, 13):
        v.update(seq, [obs("OKL0817", box=(300, 50, 428, 90))])
    assert [r.text for r in v.flush()] == ["OKL0817"]


def test_voter_tracks_two_plates_apart_and_matches_moving_box():
    v = PlateVoter(vote_frames=2)
    a, b = (10, 10, 130, 50), (400, 200, 520, 240)
    r1 = v.update(0, [obs("AYO9034", box=a), obs("PJB2414", box=b)])
    moved = (a[0] + 8, a[1] + 2, a[2] + 8, a[3] + 2)
    r2 = v.update(1, [obs("PJB2414", box=b), obs("AY09O34", box=moved)])  # misread, but same place
    assert r1 == [] and sorted(r.text for r in r2) == ["AYO9034", "PJB2414"]
    v.reset()
    assert v.active_tracks == 0


def test_voter_single_frame_mode():
    v = PlateVoter(vote_frames=1)
    assert [r.text for r in v.update(0, [obs("AYO9034")])] == ["AYO9034"]
    assert v.update(1, [obs("AYO9034")]) == []  # same plate still in view


def test_plate_observations_filter_confidence_shape_and_format():
    boxes = [
        TextBox("ay0 9034", 0.9, (10, 10, 130, 45)),
        TextBox("AYO9034", 0.1, (10, 10, 130, 45)),  # below min confidence
        TextBox("SALVADOR", 0.9, (10, 50, 130, 80)),  # does not fit the format
        TextBox("AB", 0.9, (10, 90, 40, 110)),  # too short
    ]
    got = plate_observations(boxes, BR, 0.3)
    assert [(o.text, o.confidence) for o in got] == [("AYO9034", 0.9)]
    assert [o.text for o in plate_observations(boxes, None, 0.3)] == ["AY09034", "SALVADOR"]  # no format: no look-alike fixes


def decode_thumb(thumb: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(base64.b64decode(thumb, validate=True), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "thumbnail is not a JPEG"
    return image


def test_plate_thumbnail_crops_with_a_margin_and_only_shrinks():
    frame = np.full((720, 1280, 3), 40, np.uint8)
    frame[300:400, 500:800] = 255  # a white plate, 300x100, margin 15 px: crop 330x130
    thumb = decode_thumb(plate_thumbnail(frame, (500.0, 300.0, 800.0, 400.0)))
    assert thumb.shape == (48, 122, 3)  # height bound: 330x130 * 48/130
    assert thumb[24, 61].min() > 200 and thumb[1, 1].max() < 120  # the plate inside, the frame around it
    assert decode_thumb(plate_thumbnail(frame, (100.0, 600.0, 1100.0, 650.0))).shape[:2] == (10, 160)  # width bound: 1016x66 * 160/1016
    small = decode_thumb(plate_thumbnail(frame, (10.0, 10.0, 70.0, 30.0)))
    assert small.shape[:2] == (26, 66)  # 60x20 plus a 3 px margin, not enlarged
    assert decode_thumb(plate_thumbnail(frame, (1270.0, 0.0, 1400.0, 40.0))).shape[:2] == (46, 16)  # 1264..1280: clipped to the frame
    assert plate_thumbnail(frame, (1300.0, 0.0, 1400.0, 40.0)) is None  # outside the frame
    assert len(plate_thumbnail(np.random.default_rng(0).integers(0, 256, (720, 1280, 3), np.uint8), (0, 0, 1280, 720))) < 16_000


def test_plate_observations_carry_a_thumbnail_of_their_box():
    frame = np.zeros((120, 320, 3), np.uint8)
    frame[20:60, 40:200] = 255
    got = plate_observations([TextBox("AYO9034", 0.9, (40, 20, 200, 60))], BR, 0.3, frame)
    assert decode_thumb(got[0].thumb).shape[:2] == (48, 159)  # 172x52 crop, shrunk to 48 high
    assert plate_observations([TextBox("AYO9034", 0.9, (40, 20, 200, 60))], BR, 0.3)[0].thumb is None


def test_voter_read_shows_its_best_frame_and_drops_later_thumbnails():
    v = PlateVoter(vote_frames=3)
    frames = [("AYD9034", 0.95, "misread"), ("AYO9034", 0.6, "ok-low"), ("AYO9034", 0.8, "ok-best")]
    reads = []
    for seq, (text, conf, thumb) in enumerate(frames):
        reads += v.update(seq, [Observation(text, conf, BOX, thumb)])
    assert [(r.text, r.thumb) for r in reads] == [("AYO9034", "ok-best")]  # the voted text, most confident
    v.update(3, [Observation("AYO9034", 0.9, BOX, "later")])  # the plate stays in view after its read
    assert len(v._tracks[0].obs) == 4 and all(o.thumb is None for _, o in v._tracks[0].obs)  # read made: none kept
    assert PlateVoter(vote_frames=1).update(0, [obs("PJB2414")])[0].thumb is None  # no image: no thumbnail


def header(camera: str, stream: str, seq: int) -> Header:
    return Header(1, camera, stream, seq, None, None, 0, 0, 4, 4, "bgr24", "none", 0.0)


IMG = np.zeros((4, 4, 3), np.uint8)


def test_pairer_pairs_by_seq_and_counts():
    stats = OcrStats()
    p = Pairer(stats)
    jobs = []
    for seq in range(5):
        if seq == 2:
            continue  # lost on the way: counted as missed on both streams
        jobs.append(p.add(header("gate", "raw", seq), IMG, now=float(seq)))
        jobs.append(p.add(header("gate", "deblurred", seq), IMG + 1, now=float(seq)))
    done = [j for j in jobs if j is not None]
    assert [j.seq for j in done] == [0, 1, 3, 4]
    assert all(set(j.images) == {"raw", "deblurred"} for j in done)
    assert int(done[0].images["deblurred"][0, 0, 0]) == 1 and int(done[0].images["raw"][0, 0, 0]) == 0
    snap = stats.snapshot()["gate"]
    assert snap["received"] == {"deblurred": 4, "raw": 4}
    assert snap["missed"] == 1 and snap["paired"] and snap["unpaired"] == 0


def test_pairer_deblurred_alone_without_raw_and_restart():
    stats = OcrStats()
    p = Pairer(stats, raw_timeout=5.0)
    assert p.add(header("a", "deblurred", 0), IMG, now=0.0).images.keys() == {"deblurred"}
    assert p.add(header("a", "deblurred", 1), IMG, now=0.1).epoch == 0
    job = p.add(header("a", "deblurred", 0), IMG, now=0.2)  # seq went back: pipeline restarted
    assert job.epoch == 1 and job.seq == 0
    snap = stats.snapshot()["a"]
    assert snap["restarts"] == 1 and snap["missed"] == 0 and not snap["paired"]
    # raw appears: deblurred frames now wait for their partner; late raw frames never pair
    assert p.add(header("a", "raw", 1), IMG, now=1.0) is None
    assert p.add(header("a", "deblurred", 1), IMG, now=1.0).images.keys() == {"raw", "deblurred"}
    assert p.add(header("a", "deblurred", 2), IMG, now=1.1) is None
    for seq in range(3, 3 + 70):
        p.add(header("a", "raw", seq), IMG, now=1.2)
        p.add(header("a", "deblurred", seq), IMG, now=1.2)
    assert stats.snapshot()["a"]["unpaired"] == 1  # seq 2 waited beyond the pairing window


def test_latest_jobs_keep_newest_and_count_drops():
    stats = OcrStats()
    q = LatestJobs(stats)
    pairer = Pairer(stats)
    for seq in range(4):
        q.put(pairer.add(header("a", "deblurred", seq), IMG, now=0.0))
    q.put(pairer.add(header("b", "deblurred", 0), IMG, now=0.0))
    first, second = q.get(0.1), q.get(0.1)
    assert (first.camera, first.seq) == ("a", 3) and (second.camera, second.seq) == ("b", 0)
    assert not q.idle()
    q.done(), q.done()
    assert q.idle() and q.get(0.01) is None
    assert stats.snapshot()["a"]["dropped"] == 3 and stats.snapshot()["b"]["dropped"] == 0


def test_stats_snapshot_gain_metrics_and_summary():
    s = OcrStats()
    s.received("gate", "raw", True)
    for stream, confs in (("deblurred", [0.9]), ("deblurred", [0.7, 0.5]), ("raw", [0.4]), ("raw", [])):
        s.frame("gate", stream, confs)
    s.plate("gate", "deblurred", "AYO9034")
    s.count("gate", processed=2, dropped=1, missed=1)
    s.ocr_time("gate", 1.0)
    snap = s.snapshot()["gate"]
    deb, raw = snap["streams"]["deblurred"], snap["streams"]["raw"]
    assert deb["read_rate"] == 1.0 and raw["read_rate"] == 0.5
    assert deb["mean_confidence"] == pytest.approx(0.7) and raw["mean_confidence"] == pytest.approx(0.4)
    assert snap["read_rate_gain"] == pytest.approx(0.5) and snap["plates_gain"] == 1
    assert snap["keep_up"] == pytest.approx(2 / 3, abs=1e-4) and snap["ocr_ms_per_frame"] == 500.0
    assert deb["plate_texts"] == ["AYO9034"]
    samples = {(n, tuple(sorted(lb.items()))): v for n, lb, v in s.metrics()}
    assert samples[("streamdeblur_ocr_plates_total", (("camera", "gate"), ("stream", "deblurred")))] == 1
    assert samples[("streamdeblur_ocr_dropped_frames_total", (("camera", "gate"),))] == 1
    assert samples[("streamdeblur_ocr_read_rate_gain", (("camera", "gate"),))] == pytest.approx(0.5)
    assert "gain +50.0 pts" in s.summary()


def test_stats_without_raw_has_no_gain():
    s = OcrStats()
    s.frame("cam", "deblurred", [0.8])
    snap = s.snapshot()["cam"]
    assert snap["read_rate_gain"] is None and snap["plates_gain"] is None
    assert "gain" not in s.summary()


def test_consumer_endpoint_from_output():
    assert consumer_endpoint(OutputConfig(endpoint="pub+bind:tcp://127.0.0.1:5555")) == "sub+connect:tcp://127.0.0.1:5555"
    assert consumer_endpoint(OutputConfig(endpoint="pub+bind:tcp://*:6000")) == "sub+connect:tcp://127.0.0.1:6000"
    assert consumer_endpoint(OutputConfig(endpoint="push+connect:tcp://10.0.0.2:7000")) == "pull+bind:tcp://10.0.0.2:7000"


def test_load_labels(tmp_path: Path):
    (tmp_path / "a.txt").write_text("a.jpg\t10\t20\t100\t30\tab-123c\na.jpg\t10\t20\t100\t30\tab-123c\n")
    (tmp_path / "b.txt").write_text("b.jpg 1 2 3\nb.jpg\t1\t2\t0\t4\tX1\nnotes.md\t1\t2\t3\t4\tX\n\n")
    labels, bad = load_labels(tmp_path)
    assert [(lb.image.name, lb.box, lb.text) for lb in labels] == [("a.jpg", (10, 20, 100, 30), "AB123C")]
    assert bad == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(StreamDeblurError, match="no plate labels"):
        load_labels(empty)
    with pytest.raises(StreamDeblurError, match="not a directory"):
        load_labels(tmp_path / "missing")


def test_format_drops_an_extra_character_only_when_swaps_fail():
    sk = PlateFormat(r"[A-Z]{2}[0-9]{3}[A-Z]{2}")
    assert sk.fix("RKE906AJ") == "RK906AJ"  # the coat of arms read as E
    assert sk.fix("RKE9O6AJ") == "RK906AJ"  # plus a look-alike swap
    assert sk.fix("RK906AJ") == "RK906AJ"
    assert sk.fix("XRKE906AJ") is None  # two extra characters: not this format


def test_voter_does_not_merge_different_plates_in_the_same_place():
    v = PlateVoter(vote_frames=3)
    reads = []
    for seq in range(3):
        reads += v.update(seq, [obs("AYO9034")])
    for seq in range(40, 43):  # the next car stops where the last one was
        reads += v.update(seq, [obs("PJB2414")])
    reads += v.flush()
    assert [r.text for r in reads] == ["AYO9034", "PJB2414"]
    v = PlateVoter(vote_frames=3)
    v.update(0, [obs("AYO9034")])
    v.update(60, [obs("AYD9034", box=(0, 0, 10, 10))])  # far in time and place, similar text: same plate
    assert v.active_tracks == 1


def test_ocr_command_rejects_bad_input_in_one_line(capsys):
    from streamdeblur.ocr.__main__ import main

    assert main(["ocr", "not an endpoint"]) == 2
    assert "bad endpoint" in capsys.readouterr().err
    assert main(["ocr", "tcp://127.0.0.1:5999", "--plate-format", "[A-"]) == 2
    assert "not a regular expression" in capsys.readouterr().err
    assert main(["ocr"]) == 2
    assert "give an ENDPOINT" in capsys.readouterr().err
    assert main(["ocr", "tcp://127.0.0.1:5999", "--vote-frames", "0"]) == 2
    assert "--vote-frames" in capsys.readouterr().err

"""cameras.yaml: defaults, and one clear line for every kind of bad file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from streamdeblur.config import load_config, parse_config
from streamdeblur.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cameras.yaml"
    path.write_text(text)
    return path


def test_shipped_configs_load():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.cameras, path


def test_demo_defaults():
    cfg = load_config(ROOT / "configs" / "demo.yaml")
    cam = cfg.cameras[0]
    assert cam.id == "carpark" and cam.loop and cam.is_live
    assert Path(cam.url).is_file()
    assert cfg.output.endpoint == "pub+bind:tcp://127.0.0.1:5555"
    assert cfg.model.window == 2 and cfg.model.device == "auto"


def test_relative_url_resolves_against_config_folder(tmp_path: Path):
    (tmp_path / "v.mp4").write_bytes(b"x")
    cfg = load_config(write(tmp_path, "cameras:\n  - id: a\n    url: v.mp4\n"))
    assert cfg.cameras[0].url == str(tmp_path / "v.mp4")


@pytest.mark.parametrize(
    "text, message",
    [
        ("cameras: [", "invalid YAML at line 1"),
        ("- just a list\n", "expected a mapping with a 'cameras' list"),
        ("cameras: []\n", "cameras: List should have at least 1 item"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    colour: red\n", "unknown key cameras[0](a).colour"),
        ("cameras:\n  - id: a\n    url: x.mp4\nmodle: {}\n", "unknown key modle"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    fps: fast\n", "cameras[0](a).fps: Input should be a valid number"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    fps: -3\n", "cameras[0](a).fps: Input should be greater than 0"),
        ("cameras:\n  - id: a\n    url: x.mp4\nmodel:\n  precision: fp8\n", "model.precision: Input should be"),
        ("cameras:\n  - id: a\n    url: x.mp4\nmodel:\n  window: 40\n", "model.window: Input should be less than or equal to 8"),
        ("cameras:\n  - id: a\n    url: x.mp4\n  - id: a\n    url: y.mp4\n", "duplicate camera id 'a'"),
        ("cameras:\n  - id: a b\n    url: x.mp4\n", "cameras[0](a b).id: String should match pattern"),
        ("cameras:\n  - id: a\n    url: x.mp4\noutput:\n  endpoint: 5555\n", "output.endpoint: Input should be a valid string"),
        ("cameras:\n  - id: a\n    url: x.mp4\noutput:\n  endpoint: tcp//x\n", "output.endpoint: expected SOCKET+MODE:ADDRESS"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    resize: [641, 360]\n", "resize must be [width, height], even numbers"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    plate_format: '[A-'\n", "plate_format: not a regular expression"),
        ("cameras:\n  - id: a\n    url: x.mp4\n    hwaccel: nvdecx\n", "hwaccel: 'nvdecx' is not a hardware decoder of this FFmpeg (it has: "),
    ],
)
def test_bad_config_one_line(tmp_path: Path, text: str, message: str):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text_err = str(info.value)
    assert text_err.startswith(f"{path}: "), text_err
    assert message in text_err, text_err
    assert "\n" not in text_err


def test_missing_config_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_parse_config_reports_error_count():
    with pytest.raises(ConfigError, match=r"and 1 more"):
        parse_config({"cameras": [{"id": "a", "url": "x", "fps": -1, "loop": "maybe"}]}, "inline")


@pytest.mark.parametrize(
    "text, message",
    [
        ("cameras:\n  - id: a\n    url: x.mp4\n    colour: red\n", "unknown key cameras[0](a).colour"),
        ("cameras:\n  - id: a\n    url: /nonexistent/clip.mp4\n", "/nonexistent/clip.mp4: no such file"),
        ("cameras:\n  - id: a\n    url: {notvideo}\n", "not a video file"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path: Path, text: str, message: str):
    notvideo = tmp_path / "notes.mp4"
    notvideo.write_text("this is not a video\n" * 50)
    path = write(tmp_path, text.format(notvideo=notvideo))
    proc = subprocess.run(
        [sys.executable, "-m", "streamdeblur", "run", str(path), "--duration", "5"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("streamdeblur: error: ") and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_yaml_is_loaded_safely(tmp_path: Path):
    marker = tmp_path / "pwned"
    path = write(tmp_path, f"cameras: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="invalid YAML at line 1"):
        load_config(path)
    assert not marker.exists()


def test_deblur_actor_share_of_the_cluster():
    """Left out, ``ray.deblur_num_cpus`` / ``deblur_num_gpus`` follow the cluster's resources."""
    from streamdeblur.config import ModelConfig, RayConfig
    from streamdeblur.runtime.cluster import deblur_share

    cpu_box = [{"CPU": 2.0, "memory": 1e9}]
    assert deblur_share(RayConfig(), ModelConfig(), nodes=cpu_box) == (2.0, 0.0)
    assert deblur_share(RayConfig(deblur_actors=2), ModelConfig(), nodes=cpu_box) == (1.0, 0.0)
    assert deblur_share(RayConfig(deblur_actors=4), ModelConfig(), nodes=cpu_box) == (1.0, 0.0)
    # at most one node's CPUs (an actor lives on one node)
    assert deblur_share(RayConfig(), ModelConfig(), nodes=[{"CPU": 8.0}, {"CPU": 4.0}]) == (8.0, 0.0)
    assert deblur_share(RayConfig(deblur_actors=3), ModelConfig(), nodes=[{"CPU": 8.0}, {"CPU": 4.0}]) == (4.0, 0.0)
    # the OCR consumer next to the pipeline keeps a core (its own process, outside Ray)
    assert deblur_share(RayConfig(), ModelConfig(), busy=1.0, nodes=cpu_box) == (1.0, 0.0)
    assert deblur_share(RayConfig(), ModelConfig(), busy=1.0, nodes=[{"CPU": 8.0}]) == (7.0, 0.0)
    gpu_box = [{"CPU": 16.0, "GPU": 1.0}]
    assert deblur_share(RayConfig(), ModelConfig(), nodes=gpu_box) == (1.0, 1.0)
    assert deblur_share(RayConfig(), ModelConfig(device="cpu"), nodes=gpu_box) == (16.0, 0.0)
    assert deblur_share(RayConfig(deblur_actors=4), ModelConfig(), nodes=gpu_box) == (1.0, 0.25)  # they share it
    # set values win
    assert deblur_share(RayConfig(deblur_num_cpus=3, deblur_num_gpus=0.5), ModelConfig(), nodes=gpu_box) == (3.0, 0.5)

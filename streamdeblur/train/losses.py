"""Training losses: Charbonnier (robust L1), frequency and edge terms, RAFT's sequence flow loss."""

from __future__ import annotations

import torch

from streamdeblur.models.warp import resize_flow


def charbonnier(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Differentiable L1: mean of sqrt((x-y)^2 + eps^2)."""
    return torch.sqrt((x - y) ** 2 + eps * eps).mean()


def fft_l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """L1 distance of the 2-D spectra (MIMO-UNet, Cho et al. 2021): a pixel loss under-weights
    the high frequencies that blur removes; this term weights all frequencies alike."""
    fx = torch.fft.rfft2(x.float(), norm="ortho")
    fy = torch.fft.rfft2(y.float(), norm="ortho")
    return (torch.view_as_real(fx) - torch.view_as_real(fy)).abs().mean()


_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian(x: torch.Tensor) -> torch.Tensor:
    """Per-channel 3x3 Laplacian (replicated borders) of Bx3xHxW images."""
    k = _LAPLACE.to(x.device, x.dtype).expand(x.shape[1], 1, 3, 3)
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), k, groups=x.shape[1])


def edge_loss(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Charbonnier distance of the Laplacians (MPRNet's edge loss, Zamir et al. 2021): it
    weights the strokes and borders that a reader of text needs over flat areas."""
    return charbonnier(laplacian(x.float()), laplacian(y.float()))


def sequence_flow_loss(preds: list[torch.Tensor], target: torch.Tensor, gamma: float = 0.8, max_flow: float = 200.0) -> tuple[torch.Tensor, torch.Tensor]:
    """RAFT's loss: exponentially weighted L1 over the iterations (later ones count more).

    ``preds`` are at any resolution; ``target`` (Bx2xHxW) is resized to match. Returns the loss
    and the final end-point error (in target pixels)."""
    h, w = preds[-1].shape[-2:]
    tgt = resize_flow(target, (h, w))
    valid = (tgt.norm(dim=1, keepdim=True) < max_flow).float()
    n = len(preds)
    loss = sum(gamma ** (n - i - 1) * ((p - tgt).abs() * valid).mean() for i, p in enumerate(preds))
    scale = target.shape[-1] / w
    epe = ((preds[-1] - tgt).norm(dim=1) * scale).mean()
    return loss, epe


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean PSNR (dB) of images in [0, 1], per batch element then averaged."""
    mse = ((x.clamp(0, 1) - y) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()

"""Flow operations and the RAFT wrapper."""

from __future__ import annotations

import threading

import pytest
import torch

from streamdeblur.models.cores import on_cores
from streamdeblur.models.flow import InstanceNorm, RaftFlow
from streamdeblur.models.warp import compose, invert, resize_flow, warp


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def affine_flow(h: int, w: int, a: list[list[float]]) -> torch.Tensor:
    """Flow of p -> A p (2x3) on an h x w grid."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    fx = a[0][0] * xs + a[0][1] * ys + a[0][2] - xs
    fy = a[1][0] * xs + a[1][1] * ys + a[1][2] - ys
    return torch.stack([fx, fy])[None]


def test_warp_translation_and_validity() -> None:
    x = torch.arange(40, dtype=torch.float32).view(1, 1, 1, 40).expand(1, 1, 8, 40).contiguous()
    flow = torch.zeros(1, 2, 8, 40)
    flow[:, 0] = 3.0
    out, valid = warp(x, flow)
    assert torch.allclose(out[..., :37], x[..., 3:])
    assert valid[..., :37].all() and not valid[..., 37:].any()


@pytest.fixture
def two_torch_threads():
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(1)


@pytest.mark.usefixtures("two_torch_threads")
def test_on_cores_runs_the_calls_at_once_in_order_and_in_the_callers_modes() -> None:
    together = threading.Barrier(2, timeout=20)  # broken (an error) unless two calls run at once

    def call(i: int) -> tuple[int, bool, bool, str]:
        together.wait()
        return i, torch.is_inference_mode_enabled(), torch.is_grad_enabled(), threading.current_thread().name

    with torch.inference_mode():
        out = on_cores(call, [0, 1, 2, 3])
    assert [o[:3] for o in out] == [(i, True, False) for i in range(4)]
    assert all(o[3].startswith("streamdeblur-cores") for o in out)
    with torch.no_grad():
        assert [o[1:3] for o in on_cores(call, [0, 1])] == [(False, False)] * 2
    torch.set_num_threads(1)  # one core: in order, in the calling thread
    assert on_cores(lambda i: (i, threading.current_thread().name), [0, 1]) == [(0, "MainThread"), (1, "MainThread")]


def test_compose_and_invert_affine() -> None:
    a = [[1.0, 0.01, 2.0], [-0.01, 1.0, -1.5]]
    b = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.5]]
    f_ab, f_bc = affine_flow(48, 64, a), affine_flow(48, 64, b)
    ab_then_bc = [[b[0][0] * a[0][0] + b[0][1] * a[1][0], b[0][0] * a[0][1] + b[0][1] * a[1][1], b[0][0] * a[0][2] + b[0][1] * a[1][2] + b[0][2]],
                  [b[1][0] * a[0][0] + b[1][1] * a[1][0], b[1][0] * a[0][1] + b[1][1] * a[1][1], b[1][0] * a[0][2] + b[1][1] * a[1][2] + b[1][2]]]
    f_ac = compose(f_ab, f_bc)
    assert (f_ac - affine_flow(48, 64, ab_then_bc))[..., 4:-4, 4:-4].abs().max() < 1e-3
    f_ba = invert(f_ab, iters=5)
    back = compose(f_ab, f_ba)  # a -> b -> a is the identity
    assert back[..., 6:-6, 6:-6].abs().max() < 0.02


def test_resize_flow_scales_vectors() -> None:
    f = torch.ones(1, 2, 10, 20)
    g = resize_flow(f, (20, 40))
    assert g.shape == (1, 2, 20, 40) and torch.allclose(g, torch.full_like(g, 2.0))


def test_raft_wrapper_shapes_and_fp32_correlation() -> None:
    torch.manual_seed(0)
    net = RaftFlow("raft_small", iters=2).eval()
    a, b = torch.rand(2, 3, 50, 70), torch.rand(2, 3, 50, 70)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        fa, fb = net.encode(a), net.encode(b)
        flow = net.flow(fa, fb)
        assert net.raft.corr_block.corr_pyramid is None  # freed after use
    assert flow.shape == (2, 2, 50, 70) and flow.dtype == torch.float32 and torch.isfinite(flow).all()
    with torch.inference_mode():
        seq = net.flow(net.encode(a), net.encode(b), all_iters=True)
    assert len(seq) == 2 and seq[-1].shape == (2, 2, 50, 70)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_instance_norm_is_atens(layout: torch.memory_format) -> None:
    """The CPU instance norm RAFT's encoder uses instead of ``InstanceNorm2d``: the same values
    and gradients, for maps whose mean is far from zero too."""
    g = torch.Generator().manual_seed(0)
    x = (5 + 3 * torch.randn(2, 6, 20, 28, generator=g)).contiguous(memory_format=layout).requires_grad_()
    ref = x.detach().clone().requires_grad_()
    out, want = InstanceNorm()(x), torch.nn.functional.instance_norm(ref, eps=1e-5)
    assert torch.allclose(out, want, atol=1e-5)
    weights = torch.randn(want.shape, generator=g)
    (out * weights).sum().backward()
    (want * weights).sum().backward()
    assert torch.allclose(x.grad, ref.grad, atol=1e-4)
    assert InstanceNorm()(x.detach().bfloat16()).dtype == torch.bfloat16
    raft = RaftFlow("raft_small")
    assert not any(isinstance(m, torch.nn.InstanceNorm2d) for m in raft.modules())
    assert sum(isinstance(m, InstanceNorm) for m in raft.modules()) == 21


def test_raft_large_builds_and_runs() -> None:
    net = RaftFlow("raft_large", iters=1).eval()
    with torch.inference_mode():
        flow = net.flow(net.encode(torch.rand(1, 3, 40, 40)), net.encode(torch.rand(1, 3, 40, 40)))
    assert flow.shape == (1, 2, 40, 40)


def test_unknown_arch() -> None:
    with pytest.raises(ValueError, match="unknown flow"):
        RaftFlow("pwcnet")

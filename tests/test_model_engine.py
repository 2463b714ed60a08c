"""The streaming engine on CPU: shapes, order, flush, causal mode, batching, tiling, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdeblur.config import ModelConfig
from streamdeblur.errors import ConfigError
from streamdeblur.models.deblur import DeblurNet
from streamdeblur.models.engine import DeblurEngine, pick_precision
from streamdeblur.models.refine import FlowRefiner, grey, refine_all
from streamdeblur.models.temporal import box_mean, fuse_frames
from streamdeblur.models.warp import warp


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def net() -> DeblurNet:
    """An untrained network with a non-zero output layer (outputs depend on every input)."""
    torch.manual_seed(0)
    m = DeblurNet().eval()
    torch.nn.init.normal_(m.fusion.out.weight, std=0.02)
    return m


def frames(n: int, h: int = 72, w: int = 100, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def nearest(out: np.ndarray, inputs: list[np.ndarray]) -> int:
    return int(np.argmin([np.abs(out.astype(int) - x).mean() for x in inputs]))


@pytest.mark.parametrize(
    "window,causal,fuse",
    [(2, False, "frames"), (1, False, "frames"), (0, False, "frames"), (2, True, "frames"),
     (2, False, "features"), (2, True, "features"), (2, False, "both"), (1, True, "both")],
)
def test_one_output_per_frame_in_order(net: DeblurNet, window: int, causal: bool, fuse: str) -> None:
    eng = DeblurEngine(ModelConfig(name="test", window=window, causal=causal, fuse=fuse, device="cpu"), model=net)
    assert eng.delay == (0 if causal else window * (2 if fuse == "both" else 1))
    ins = frames(7)
    outs = []
    for i, f in enumerate(ins):
        got = eng.push("cam", f)
        assert len(got) == (1 if i >= eng.delay else 0)
        outs += got
        st = eng._streams["cam"]  # what the windows keep: a few frames, and the refined flows of unfinished frames
        assert len(st.restored) <= 2 * window + 2 and len(st.grey) <= 2 * window + 2
        assert all(st.emitted <= c < st.pushed and c != j for c, j in st.refined) and len(st.refined) <= 2 * window * (eng.delay + 1)
    outs += eng.flush("cam")
    assert len(outs) == len(ins)
    assert all(o.shape == (72, 100, 3) and o.dtype == np.uint8 for o in outs)
    assert [nearest(o, ins) for o in outs] == list(range(7))
    assert eng.flush("cam") == []  # the stream is gone


def test_short_stream_and_odd_size(net: DeblurNet) -> None:
    eng = DeblurEngine(ModelConfig(name="test", device="cpu"), model=net)
    ins = frames(1, 37, 51)
    assert eng.push("a", ins[0]) == []
    out = eng.flush("a")
    assert len(out) == 1 and out[0].shape == (37, 51, 3)


def test_push_batch_keeps_streams_apart(net: DeblurNet) -> None:
    # the network's batched passes; the DIS refinement runs per frame pair, and on these noise
    # frames it turns float rounding in its starting flow into a different match
    eng = DeblurEngine(ModelConfig(name="test", window=1, device="cpu", flow_refine="none"), model=net)
    a, b = frames(4, seed=1), frames(4, 64, 80, seed=2)
    ref = DeblurEngine(ModelConfig(name="test", window=1, device="cpu", flow_refine="none"), model=net)
    ref_a = [o for f in a for o in ref.push("a", f)] + ref.flush("a")
    got: dict[str, list[np.ndarray]] = {"a": [], "b": []}
    for s, img in eng.push_batch([("a", a[0]), ("b", b[0]), ("a", a[1]), ("b", b[1])]):
        got[s].append(img)
    for s, img in eng.push_batch([("a", a[2]), ("b", b[2]), ("a", a[3]), ("b", b[3])]):
        got[s].append(img)
    got["a"] += eng.flush("a")
    got["b"] += eng.flush("b")
    assert [nearest(o, a) for o in got["a"]] == [0, 1, 2, 3]
    assert [nearest(o, b) for o in got["b"]] == [0, 1, 2, 3]
    # batching across cameras gives the same pixels as one camera alone
    for x, y in zip(got["a"], ref_a):
        assert np.abs(x.astype(int) - y).max() <= 1


def test_tiling_matches_untiled_away_from_seams(net: DeblurNet) -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    import cv2

    ins = [cv2.resize(np.roll(base, i, axis=1), (256, 192), interpolation=cv2.INTER_CUBIC) for i in range(3)]
    whole = DeblurEngine(ModelConfig(name="t", window=1, device="cpu", tile_size=1024), model=net)
    tiled = DeblurEngine(ModelConfig(name="t", window=1, device="cpu", tile_size=128, tile_overlap=48), model=net)
    a = [o for f in ins for o in whole.push("s", f)] + whole.flush("s")
    b = [o for f in ins for o in tiled.push("s", f)] + tiled.flush("s")
    diff = np.abs(a[1].astype(int) - b[1])
    assert diff.mean() < 0.5
    assert np.percentile(diff, 99) <= 2


def test_bad_input_and_settings(net: DeblurNet) -> None:
    eng = DeblurEngine(ModelConfig(name="test", device="cpu"), model=net)
    with pytest.raises(ValueError, match="uint8"):
        eng.push("a", np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ConfigError, match="fp16 needs a CUDA"):
        pick_precision("fp16", torch.device("cpu"))
    assert pick_precision("auto", torch.device("cpu")) == "fp32"
    assert (eng.device, eng.precision) == ("cpu", "fp32")


def test_resolution_change_restarts_the_stream(net: DeblurNet) -> None:
    eng = DeblurEngine(ModelConfig(name="test", window=1, device="cpu"), model=net)
    small, big = frames(2, 40, 48), frames(2, 56, 64, seed=5)
    outs = eng.push("a", small[0]) + eng.push("a", small[1]) + eng.push("a", big[0]) + eng.push("a", big[1]) + eng.flush("a")
    assert [o.shape[:2] for o in outs] == [(40, 48)] * 2 + [(56, 64)] * 2


def test_flow_iterations_come_from_the_config(net: DeblurNet) -> None:
    eng = DeblurEngine(ModelConfig(name="test", window=1, device="cpu", flow_iters=3), model=net)
    calls = []
    hook = net.flow.raft.update_block.register_forward_hook(lambda *_: calls.append(1))
    try:
        for f in frames(2):
            eng.push("a", f)
    finally:
        hook.remove()
    assert len(calls) == 3  # one frame pair, three RAFT refinements
    with pytest.raises(ValueError, match="flow_iters"):
        ModelConfig(flow_iters=0)


def test_large_frames_get_a_lower_flow_scale(net: DeblurNet) -> None:
    """``flow_max_pixels`` caps the flow network's input (RAFT's correlation grows with its
    area squared); 1920x1080 keeps the default 0.5."""
    m = DeblurNet()
    m.flow_max_pixels = ModelConfig().flow_max_pixels
    assert m.flow_size(1088, 1920) == (544, 960) and m.flow_size(360, 640) == (180, 320)
    h, w = m.flow_size(2160, 3840)
    assert h * w <= m.flow_max_pixels * 1.01 and abs(w / h - 16 / 9) < 0.01 and h < 1080
    eng = DeblurEngine(ModelConfig(name="test", window=1, device="cpu", flow_max_pixels=192 * 256), model=net)
    seen = []
    hook = net.flow.raft.feature_encoder.register_forward_hook(lambda _m, args, _o: seen.append(tuple(args[0].shape[-2:])))
    try:
        outs = [o for f in frames(3, h=480, w=640) for o in eng.push("a", f)] + eng.flush("a")
    finally:
        hook.remove()
    assert seen and all(s == (192, 256) for s in seen)  # 0.4 of 480x640, not 0.5
    assert [o.shape for o in outs] == [(480, 640, 3)] * 3


def test_low_precision_weights_are_cast_once_to_the_same_output(net: DeblurNet, monkeypatch: pytest.MonkeyPatch) -> None:
    """At bf16 (fp16 on CUDA) the engine keeps a copy of the weights in that dtype: the
    output is what autocast gives with float32 weights, and the shared model stays float32."""
    cfg = ModelConfig(name="test", window=1, device="cpu", precision="bf16")
    eng = DeblurEngine(cfg, model=net)
    assert {p.dtype for p in eng.model.parameters()} == {torch.bfloat16} and {p.dtype for p in net.parameters()} == {torch.float32}
    monkeypatch.setattr(DeblurEngine, "_weights_for", lambda self, model, shared: model)
    ref = DeblurEngine(cfg, model=net)
    assert ref.model is net
    clip = frames(4)
    got = [o for f in clip for o in eng.push("a", f)] + eng.flush("a")
    want = [o for f in clip for o in ref.push("a", f)] + ref.flush("a")
    assert len(got) == 4 and all(np.array_equal(a, b) for a, b in zip(got, want))


def test_confidence_head_split_matches_the_concatenated_input(net: DeblurNet) -> None:
    """``fuse`` applies the confidence head's first layer per input part, to all neighbours in
    one batch; it must equal the head on [centre features, warped features, |photometric
    difference|] neighbour by neighbour, and the fused features their weighted mean."""
    torch.manual_seed(1)
    fu = net.fusion
    centre, *neigh = [fu.encode(torch.rand(2, 3, 32, 48)) for _ in range(4)]
    flows = [torch.randn(2, 2, 16, 24) * 3 for _ in neigh]
    c = centre[0].shape[1]
    with torch.no_grad():
        x, weights = fu.fuse(centre, neigh, flows)
        num, den = centre[0].clone(), torch.ones_like(centre[0][:, :1])
        for i, (n, f) in enumerate(zip(neigh, flows)):
            warped, valid = warp(n[1], f)
            head_in = torch.cat([centre[0], warped[:, :c], (warped[:, c:] - centre[1][:, c:]).abs()], 1)
            ref = torch.sigmoid(fu.conf(head_in)) * valid
            assert 0.05 < ref.std() and torch.allclose(weights[:, i], ref, atol=1e-5)
            num, den = num + ref * warped[:, :c], den + ref
        assert weights.shape == (2, 3, 1, 16, 24) and torch.allclose(x[:, c : 2 * c], num / den, atol=1e-5)
        assert torch.allclose(x[:, 2 * c :], (den - 1) / 3, atol=1e-5)


def test_frame_fusion_averages_aligned_neighbours_and_leaves_out_the_rest() -> None:
    g = torch.Generator().manual_seed(0)
    clean = 0.2 + 0.6 * torch.nn.functional.interpolate(torch.rand(1, 3, 8, 12, generator=g), size=(64, 96), mode="bicubic").clamp(0, 1)
    noisy = lambda x: x + 0.01 * torch.randn(x.shape, generator=g)  # noqa: E731
    centre = noisy(clean)
    moved = noisy(torch.roll(clean, shifts=3, dims=-1))  # the scene 3 px to the right
    flow = torch.zeros(1, 2, 32, 48)
    flow[:, 0] = 1.5  # centre -> neighbour at half resolution: 3 px at full resolution
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))

    def noise(x: torch.Tensor) -> float:
        return float((x - clean)[inner].square().mean())

    fused = fuse_frames(centre, [moved], [flow], tolerance=0.03)
    assert noise(fused) < 0.6 * noise(centre)  # two aligned noisy copies: about half the noise power
    # a neighbour that shows something else, or a flow that leaves the frame, changes nothing
    other = torch.rand(1, 3, 64, 96, generator=g)
    assert (fuse_frames(centre, [other], [flow], 0.03) - centre).abs().max() < 1e-3
    away = torch.full((1, 2, 32, 48), 100.0)
    assert (fuse_frames(centre, [moved], [away], 0.03) - centre).abs().max() < 1e-6
    # without neighbours the centre comes back as it is
    assert torch.equal(fuse_frames(centre, [], [], 0.03), centre)


def test_flow_refinement_finds_the_shift_the_starting_flow_missed() -> None:
    g = torch.Generator().manual_seed(1)
    clean = 0.2 + 0.6 * torch.nn.functional.interpolate(torch.rand(1, 3, 24, 32, generator=g), size=(144, 192), mode="bicubic").clamp(0, 1)
    noisy = lambda x: x + 0.01 * torch.randn(x.shape, generator=g)  # noqa: E731
    centre, moved = noisy(clean), noisy(torch.roll(clean, shifts=3, dims=-1))  # the scene 3 px to the right
    start = torch.zeros(1, 2, 72, 96)
    start[:, 0] = 0.5  # half resolution: 1 px at full resolution, 2 px short
    refined = FlowRefiner("fast")(grey(centre), grey(moved), start)
    assert refined.shape == (1, 2, 144, 192)
    inner = (0, slice(None), slice(16, -16), slice(16, -16))
    assert (refined[inner][0] - 3).abs().mean() < 0.3 and refined[inner][1].abs().mean() < 0.3
    # the refined flow lines the neighbour up: the fusion halves the noise where the start did not
    err = lambda flow: float((fuse_frames(centre, [moved], [flow], 0.03) - clean)[:, :, 16:-16, 16:-16].square().mean())  # noqa: E731
    assert err(refined) < 0.7 * err(start)


def test_two_threads_refine_and_warp_a_window_at_once_to_the_same_frames(net: DeblurNet) -> None:
    """On two cores a window's DIS calls run at once and its neighbours' warps are split over
    the cores: the outputs are one core's, each frame with its own window."""
    clip = [np.roll(f, s, axis=1) for f, s in zip(frames(1, 96, 128, seed=5) * 7, range(0, 21, 3))]

    def run(threads: int) -> list[np.ndarray]:
        torch.set_num_threads(threads)
        eng = DeblurEngine(ModelConfig(name="test", window=2, device="cpu", flow_refine="fast"), model=net)
        return [o for f in clip for o in eng.push("cam", f)] + eng.flush("cam")

    one, two = run(1), run(2)
    torch.set_num_threads(1)
    assert len(one) == len(two) == len(clip)
    assert max(int(np.abs(a.astype(int) - b.astype(int)).max()) for a, b in zip(one, two)) <= 1


def test_flow_refiner_is_safe_in_several_threads_at_once() -> None:
    g = torch.Generator().manual_seed(2)
    imgs = [grey(torch.rand(1, 3, 72, 96, generator=g)) for _ in range(5)]
    jobs = [(imgs[0], imgs[i], torch.randn(1, 2, 36, 48, generator=g)) for i in range(1, 5)]
    refiner = FlowRefiner("fast")
    torch.set_num_threads(2)
    together = refine_all(refiner, jobs)
    torch.set_num_threads(1)
    alone = [FlowRefiner("fast")(*job) for job in jobs]
    assert all(torch.equal(a, b) for a, b in zip(together, alone))


def test_flow_refine_auto_is_dis_on_the_cpu_and_only_with_a_window(net: DeblurNet) -> None:
    assert DeblurEngine(ModelConfig(), model=net).refine == "fast"
    assert DeblurEngine(ModelConfig(flow_refine="none"), model=net).refine == "none"
    assert DeblurEngine(ModelConfig(fuse="features", flow_refine="medium"), model=net).refine == "medium"
    assert DeblurEngine(ModelConfig(window=0, flow_refine="medium"), model=net).refine == "none"


def test_a_frames_fusion_features_are_stored_once(net: DeblurNet) -> None:
    feat, both = net.fusion.encode(torch.rand(1, 3, 64, 96))
    assert feat.untyped_storage().data_ptr() == both.untyped_storage().data_ptr()
    assert torch.equal(both[:, : feat.shape[1]], feat) and both.shape[1] == feat.shape[1] + 3


@pytest.mark.parametrize("shape", [(1, 1, 7, 9), (2, 3, 40, 64), (4, 1, 3, 2)])
def test_box_mean_is_the_edge_aware_average_pool(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(2)) * 3
    for r in (1, 2):
        ref = torch.nn.functional.avg_pool2d(x, 2 * r + 1, 1, r, count_include_pad=False)
        assert torch.allclose(box_mean(x, r), ref, atol=1e-5)

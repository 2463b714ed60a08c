"""The dashboard web app (aiohttp), served from a background thread with its own loop.

Routes: ``/`` the page, ``/static/*`` its code, ``/ws`` live status + JPEG frames,
``/api/status``, ``/api/history``, ``/video/CAM/STREAM.mjpg``, ``/snapshot/CAM/STREAM.jpg``,
``/metrics`` (Prometheus), ``/healthz``. With a token, everything but ``/static`` and
``/healthz`` needs ``?token=`` or ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import json
import logging
import threading
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from streamdeblur.config import DashboardConfig
from streamdeblur.dashboard.feed import FrameFeed, viewer_endpoint
from streamdeblur.dashboard.metrics import CONTENT_TYPE, OcrProvider, PipelineMetrics
from streamdeblur.dashboard.monitor import Monitor, StatusProvider
from streamdeblur.errors import StreamDeblurError

STATIC = Path(__file__).parent / "static"
PUBLIC = ("/static/", "/healthz")
SAMPLE_PERIOD = 1.0
BOUNDARY = "streamdeblurframe"
log = logging.getLogger(__name__)

CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


def _token_of(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.query.get("token")


@web.middleware
async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
    """Token check, then headers that keep the page (and its token) to itself."""
    expected = request.app[SERVER].token
    if expected and not request.path.startswith(PUBLIC):
        given = _token_of(request)
        if given is None:
            raise web.HTTPUnauthorized(text="token required\n", headers={"WWW-Authenticate": 'Bearer realm="streamdeblur"'})
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise web.HTTPForbidden(text="bad token\n")
    response = await handler(request)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", CSP)
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[MONITOR].snapshot())


async def _history(request: web.Request) -> web.Response:
    return web.json_response(request.app[MONITOR].history())


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[SERVER].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _view(request: web.Request):
    feed = request.app[SERVER].feed
    if feed is None:
        raise web.HTTPNotFound(text="no video: the pipeline's output cannot be watched\n")
    camera, stream = request.match_info["camera"], request.match_info["stream"]
    if camera not in request.app[MONITOR].cameras() or stream not in ("deblurred", "raw"):
        raise web.HTTPNotFound(text=f"no camera view {camera}/{stream}\n")
    return feed, camera, stream


async def _snapshot(request: web.Request) -> web.Response:
    feed, camera, stream = _view(request)
    view = feed.view(camera, stream)
    if view is None:
        raise web.HTTPNotFound(text=f"no frame yet from {camera}/{stream}\n")
    return web.Response(body=view.jpeg, content_type="image/jpeg")


async def _mjpeg(request: web.Request) -> web.StreamResponse:
    """``multipart/x-mixed-replace`` stream of one camera view (for <img>, VLC, ffplay)."""
    feed, camera, stream = _view(request)
    server: DashboardServer = request.app[SERVER]
    response = web.StreamResponse(headers={"Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store"})
    await response.prepare(request)
    last = None
    while not server.closing:
        view = feed.view(camera, stream)
        if view is not None and view.seq != last:
            last = view.seq
            head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(view.jpeg)}\r\n\r\n".encode()
            try:
                await response.write(head + view.jpeg + b"\r\n")
            except ConnectionError:  # the viewer went away
                break
        await asyncio.sleep(server.view_period)
    return response


def _pack(camera: str, stream: str, seq: int, jpeg: bytes) -> bytes:
    """Binary WebSocket frame: 2-byte big-endian header length, JSON header, JPEG."""
    head = json.dumps({"camera": camera, "stream": stream, "seq": seq}).encode()
    return len(head).to_bytes(2, "big") + head + jpeg


async def _ws(request: web.Request) -> web.StreamResponse:
    """Live feed for the page: status JSON every second, the newest JPEG of each view."""
    origin = request.headers.get("Origin")
    if origin and origin.split("://", 1)[-1] != request.host:
        raise web.HTTPForbidden(text="cross-origin WebSocket refused\n")
    server: DashboardServer = request.app[SERVER]
    monitor = request.app[MONITOR]
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 16)
    await ws.prepare(request)
    server.sockets.add(ws)
    wanted: set[str] = {"deblurred", "raw"}
    hello = {"type": "hello", "view_fps": 1.0 / server.view_period, "history": monitor.history(), "status": monitor.snapshot()}
    await ws.send_str(json.dumps(hello))

    async def push() -> None:
        sent_seq: dict[tuple[str, str], int] = {}
        version = monitor.version
        while not ws.closed:
            if monitor.version != version:
                version = monitor.version
                await ws.send_str(json.dumps({"type": "status", "status": monitor.snapshot()}))
            if server.feed is not None:
                for camera in monitor.cameras():
                    for stream in sorted(wanted):
                        view = server.feed.view(camera, stream)
                        if view is not None and sent_seq.get((camera, stream)) != view.seq:
                            sent_seq[camera, stream] = view.seq
                            await ws.send_bytes(_pack(camera, stream, view.seq, view.jpeg))
            await asyncio.sleep(server.view_period)

    async def push_until_closed() -> None:
        try:
            await push()
        except ConnectionError:  # the page went away mid-send
            pass

    sender = asyncio.create_task(push_until_closed())
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    wanted = {s for s in json.loads(msg.data).get("streams", []) if s in ("deblurred", "raw")}
                except (ValueError, AttributeError):
                    pass
    finally:
        sender.cancel()
        server.sockets.discard(ws)
    return ws


async def _sampler(app: web.Application) -> Any:
    async def loop() -> None:
        while True:
            try:
                app[MONITOR].sample()
            except Exception:  # noqa: BLE001 - a bad sample must not stop the page
                log.exception("dashboard: sampling failed")
            await asyncio.sleep(SAMPLE_PERIOD)

    task = asyncio.create_task(loop())
    yield
    task.cancel()


async def _close_sockets(app: web.Application) -> None:
    server = app[SERVER]
    server.closing = True
    for ws in list(server.sockets):
        await ws.close(code=1001, message=b"server stopping")


def build_app(server: "DashboardServer") -> web.Application:
    app = web.Application(middlewares=[_guard])
    app[SERVER] = server
    app[MONITOR] = server.monitor
    app.cleanup_ctx.append(_sampler)
    app.on_shutdown.append(_close_sockets)
    app.router.add_get("/", _index)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/history", _history)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/ws", _ws)
    app.router.add_get("/video/{camera}/{stream}.mjpg", _mjpeg)
    app.router.add_get("/snapshot/{camera}/{stream}.jpg", _snapshot)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app


class DashboardServer:
    """The dashboard of one pipeline (``status_provider``) or of a ZeroMQ output alone.

    ``endpoint``: where to subscribe for video (None: no video); ``curve``: its CURVE
    (server public key file, client secret file). Without a status provider, status and
    metrics come from the headers received there.
    """

    def __init__(
        self,
        cfg: DashboardConfig,
        *,
        endpoint: str | None,
        status_provider: StatusProvider | None = None,
        engine_info: Any = None,
        ocr_stats: OcrProvider | None = None,
        publish_raw: bool = False,
        curve: tuple[str | None, str | None] = (None, None),
    ):
        self.cfg = cfg
        self.token = cfg.token
        self.view_period = 1.0 / cfg.view_fps
        self.publish_raw = publish_raw
        self.metrics = PipelineMetrics(engine_info, ocr_stats)
        on_header = None if status_provider is not None else self.metrics.observe_header
        self.feed = (
            FrameFeed(endpoint, cfg.view_fps, cfg.jpeg_quality, on_header=on_header, always_on=status_provider is None, curve=curve)
            if endpoint
            else None
        )
        self.monitor = Monitor(self.metrics, feed=self.feed, status_provider=status_provider, engine_info=engine_info, ocr=ocr_stats)
        self.sockets: set[web.WebSocketResponse] = set()
        self.closing = False
        self.port = cfg.port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: StreamDeblurError | None = None
        self._thread = threading.Thread(target=self._serve, name="dashboard-http", daemon=True)

    @property
    def url(self) -> str:
        host = self.cfg.host if self.cfg.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}/"

    def on_report(self, report: Any) -> None:
        """``pipeline.run(on_report=...)``: the one place the pipeline's counters grow."""
        self.metrics.observe_report(report, self.publish_raw)

    def start(self) -> "DashboardServer":
        """Listen (raises a one-line StreamDeblurError if the port is taken), then serve."""
        if self.cfg.token is None and self.cfg.host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("dashboard on %s without a token: anyone who can reach it can watch the cameras", self.cfg.host)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        if self.feed is not None:
            self.feed.start()
        return self

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._stopping = asyncio.Event()
        runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.cfg.host, self.cfg.port)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc)).lower()
            self._error = StreamDeblurError(
                f"dashboard: cannot listen on {self.cfg.host}:{self.cfg.port}: {reason} (set dashboard.port, or dashboard.enabled: false)"
            )
            loop.run_until_complete(runner.cleanup())
            loop.close()
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._stopping.wait())
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def stop(self) -> None:
        """Close the page's connections, release the port and the subscriber."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout=10.0)
        if self.feed is not None:
            self.feed.stop()

    def __enter__(self) -> "DashboardServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


MONITOR = web.AppKey("monitor", Monitor)
SERVER = web.AppKey("server", DashboardServer)


def for_pipeline(pipeline: Any, ocr_stats: OcrProvider | None = None) -> DashboardServer:
    """The dashboard of a ``runtime.graph.Pipeline``, started; pass ``server.on_report``
    to ``pipeline.run``. Video comes from the pipeline's own ZeroMQ output (a CURVE output
    is watched with the publisher's own certificate as both server and client key)."""
    cfg = pipeline.cfg
    key = cfg.output.curve_secret_key
    server = DashboardServer(
        cfg.dashboard,
        endpoint=viewer_endpoint(cfg.output.endpoint),
        status_provider=lambda: list(pipeline.status.values()),
        engine_info=lambda: pipeline.engine_info,
        ocr_stats=ocr_stats,
        publish_raw=cfg.output.publish_raw,
        curve=(key, key),
    )
    return server.start()

"""The publishing side: frames out on one ZeroMQ socket, never blocking the pipeline."""

from __future__ import annotations

import zmq

from streamdeblur.errors import StreamDeblurError
from streamdeblur.frame import Frame
from streamdeblur.transport import wire
from streamdeblur.transport.endpoint import parse_endpoint
from streamdeblur.transport.security import secure_server


class Publisher:
    """Sends frames in wire format v1. A full queue (slow or absent consumer on a
    non-PUB socket) drops the message and counts it instead of blocking."""

    def __init__(
        self,
        endpoint: str,
        encoding: str = "bgr24",
        jpeg_quality: int = 90,
        send_hwm: int = 64,
        curve_secret_key: str | None = None,
        curve_authorized_keys: str | None = None,
    ):
        self.endpoint = parse_endpoint(endpoint, "pub", True)
        self.encoding = encoding
        self.jpeg_quality = jpeg_quality
        self.sent = 0
        self.dropped = 0
        self._auth = None
        # A CURVE server gets a context of its own: its authenticator serves one context.
        self._ctx = zmq.Context() if curve_secret_key else zmq.Context.instance()
        self._sock = self._ctx.socket(self.endpoint.zmq_type)
        self._sock.setsockopt(zmq.SNDHWM, send_hwm)
        self._sock.setsockopt(zmq.LINGER, 500)
        if curve_secret_key:
            try:
                self._auth = secure_server(self._ctx, self._sock, curve_secret_key, curve_authorized_keys)
            except StreamDeblurError:
                self.close()
                raise
        try:
            self.endpoint.attach(self._sock, "output")
        except StreamDeblurError:
            self.close()
            raise

    def publish(self, frame: Frame, stream: str, model: str) -> bool:
        """Send one frame; False when it had to be dropped."""
        parts = wire.encode(frame, stream, model, self.encoding, self.jpeg_quality)
        try:
            self._sock.send_multipart(parts, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def close(self) -> None:
        self._sock.close()
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

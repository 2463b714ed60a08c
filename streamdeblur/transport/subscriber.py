"""The consumer-side client: ``for header, image in Subscriber("tcp://127.0.0.1:5555")``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import zmq

from streamdeblur.errors import StreamDeblurError
from streamdeblur.transport import wire
from streamdeblur.transport.endpoint import parse_endpoint
from streamdeblur.transport.security import secure_client


class Subscriber:
    """Receives frames published by a pipeline.

    ``topics`` are prefixes such as ``"gate/deblurred"`` or ``"gate/"``; none = everything.
    ``recv`` returns ``(header, image)`` or None after ``timeout`` seconds. Messages that do
    not follow the wire format are counted in ``bad_messages`` and skipped. For a CURVE
    publisher pass its public key file (and this client's ``.key_secret`` when the
    publisher only admits known clients).
    """

    def __init__(
        self,
        endpoint: str,
        topics: Iterable[str] | None = None,
        recv_hwm: int = 64,
        curve_server_key: str | None = None,
        curve_client_key: str | None = None,
    ):
        self.endpoint = parse_endpoint(endpoint, "sub", False)
        self.received = 0
        self.bad_messages = 0
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(self.endpoint.zmq_type)
        self._sock.setsockopt(zmq.RCVHWM, recv_hwm)
        self._sock.setsockopt(zmq.LINGER, 0)
        if curve_server_key:
            try:
                secure_client(self._sock, curve_server_key, curve_client_key)
            except StreamDeblurError:
                self._sock.close(0)
                raise
        if self.endpoint.zmq_type == zmq.SUB:
            for t in list(topics or [""]):
                self._sock.setsockopt(zmq.SUBSCRIBE, t.encode())
        try:
            self.endpoint.attach(self._sock, "input")
        except StreamDeblurError:
            self._sock.close(0)
            raise
        self._poller = zmq.Poller()
        self._poller.register(self._sock, zmq.POLLIN)

    def recv(self, timeout: float | None = None) -> tuple[wire.Header, np.ndarray] | None:
        """The next valid frame, or None if none arrived within ``timeout`` seconds."""
        while True:
            if not self._poller.poll(None if timeout is None else int(timeout * 1000)):
                return None
            parts = self._sock.recv_multipart(copy=False)
            try:
                msg = wire.decode([p.buffer for p in parts])
            except wire.WireError:
                self.bad_messages += 1
                continue
            self.received += 1
            return msg

    def __iter__(self) -> Iterator[tuple[wire.Header, np.ndarray]]:
        while True:
            msg = self.recv()
            if msg is not None:
                yield msg

    def close(self) -> None:
        self._sock.close(0)

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

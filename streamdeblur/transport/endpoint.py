"""Savant-style ZeroMQ endpoint strings: ``pub+bind:tcp://127.0.0.1:5555``.

``SOCKET+MODE:ADDRESS`` where SOCKET is pub/sub/push/pull/dealer/router and MODE is
bind/connect. A bare address (``tcp://127.0.0.1:5555``) means the natural default for the
side using it: publishers bind, subscribers connect.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from streamdeblur.errors import StreamDeblurError

SOCKET_TYPES = {
    "pub": zmq.PUB,
    "sub": zmq.SUB,
    "push": zmq.PUSH,
    "pull": zmq.PULL,
    "dealer": zmq.DEALER,
    "router": zmq.ROUTER,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    socket: str
    bind: bool
    address: str

    def __str__(self) -> str:
        return f"{self.socket}+{'bind' if self.bind else 'connect'}:{self.address}"

    @property
    def zmq_type(self) -> int:
        return SOCKET_TYPES[self.socket]

    def attach(self, sock: zmq.Socket, role: str) -> None:
        """Bind or connect ``sock`` to the address; a failure is a one-line
        ``StreamDeblurError`` naming the ``role`` (input/output) endpoint."""
        try:
            (sock.bind if self.bind else sock.connect)(self.address)
        except zmq.ZMQError as exc:
            raise StreamDeblurError(f"{role} endpoint {self}: {zmq.strerror(exc.errno).lower()}") from None


def parse_endpoint(text: str, default_socket: str, default_bind: bool) -> Endpoint:
    """Parse an endpoint string; raises ValueError with a one-line reason."""
    if "://" not in text:
        raise ValueError(f"bad endpoint {text!r}: expected e.g. pub+bind:tcp://127.0.0.1:5555")
    head, sep, rest = text.partition(":")
    if "+" in head:
        socket, _, mode = head.partition("+")
        if socket not in SOCKET_TYPES or mode not in ("bind", "connect"):
            raise ValueError(f"bad endpoint {text!r}: socket must be one of {sorted(SOCKET_TYPES)}, mode bind or connect")
        return Endpoint(socket, mode == "bind", rest)
    return Endpoint(default_socket, default_bind, text)


PEERS = {"pub": "sub", "push": "pull", "router": "dealer", "dealer": "router", "sub": "pub", "pull": "push"}


def peer_endpoint(ep: Endpoint) -> str:
    """The endpoint the other side uses to reach ``ep``: the matching socket type, the
    opposite mode, and a wildcard bind address (``*``, ``0.0.0.0``) as loopback."""
    address = ep.address
    if ep.bind:
        address = address.replace("://*:", "://127.0.0.1:").replace("://0.0.0.0:", "://127.0.0.1:")
    return f"{PEERS[ep.socket]}+{'connect' if ep.bind else 'bind'}:{address}"

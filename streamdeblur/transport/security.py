"""ZeroMQ CURVE: encryption and client authentication for outputs that leave the machine.

Keys are ZeroMQ certificate files (``streamdeblur keys DIR`` makes them): ``NAME.key``
holds a public key, ``NAME.key_secret`` the key pair. The publisher loads its secret
certificate; when ``authorized_keys`` (a folder of client ``.key`` files) is set, only
those clients may connect, else any client that knows the server's public key may.
"""

from __future__ import annotations

from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from streamdeblur.errors import StreamDeblurError


def make_keys(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Create ``NAME.key`` and ``NAME.key_secret`` in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(directory), name)
    return Path(public), Path(secret)


def _load(path: str | Path, need_secret: bool) -> tuple[bytes, bytes | None]:
    try:
        public, secret = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise StreamDeblurError(f"CURVE key {path}: cannot load: {exc}") from None
    if need_secret and not secret:
        raise StreamDeblurError(f"CURVE key {path}: has no secret key (use the .key_secret file)")
    return public, secret


class _AllowedKeys:
    """ZAP credentials check: a client's (Z85-encoded) public key is admitted when it is in the set."""

    def __init__(self, keys: set[bytes]):
        self.keys = keys

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


def secure_server(ctx: zmq.Context, sock: zmq.Socket, secret_file: str, authorized_keys: str | None) -> ThreadAuthenticator:
    """Make ``sock`` a CURVE server; returns the running authenticator (stop it on close).

    With ``authorized_keys`` only the ``.key`` files in that folder are admitted, and the
    server's own key (so its own dashboard can watch it); without, any client is.
    """
    public, secret = _load(secret_file, need_secret=True)
    auth = ThreadAuthenticator(ctx)
    if authorized_keys is None:
        auth.start()
        auth.configure_curve(domain="*", location=zmq.auth.CURVE_ALLOW_ANY)
    else:
        folder = Path(authorized_keys)
        if not folder.is_dir():
            raise StreamDeblurError(f"CURVE authorized keys {authorized_keys}: not a folder")
        keys = {_load(f, need_secret=False)[0] for f in sorted(folder.glob("*.key"))} | {public}
        auth.start()
        auth.configure_curve_callback(domain="*", credentials_provider=_AllowedKeys(keys))
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_server = True
    return auth


def secure_client(sock: zmq.Socket, server_key_file: str, client_secret_file: str | None) -> None:
    """Make ``sock`` a CURVE client of the server whose public key is in ``server_key_file``;
    without a client certificate a fresh key pair is used (servers that allow any client)."""
    server_public, _ = _load(server_key_file, need_secret=False)
    if client_secret_file:
        public, secret = _load(client_secret_file, need_secret=True)
    else:
        public, secret = zmq.curve_keypair()
    sock.curve_secretkey = secret
    sock.curve_publickey = public
    sock.curve_serverkey = server_public

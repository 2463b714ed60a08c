"""A real RTSP server on loopback for tests: GStreamer's rtsp-server serving an H.264 mp4.

Runs with Debian's system python3 (python3-gi, gir1.2-gst-rtsp-server-1.0):
    /usr/bin/python3 tests/rtsp_server.py PORT MOUNT FILE
Prints ``ready`` once listening. The file's H.264 is re-packetised, not re-encoded, and
sent at its own frame rate; each new client starts from the beginning.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    port, mount, path = sys.argv[1], sys.argv[2], sys.argv[3]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse config-interval=-1 '
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory("/" + mount.strip("/"), factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{port}", flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()

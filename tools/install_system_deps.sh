#!/usr/bin/env bash
# Debian packages the tests use: Chromium (dashboard browser tests, driven by Playwright)
# and GStreamer's RTSP server (a real RTSP camera on loopback). Installs only what is
# missing; needs root (or sudo) and apt. Without them those tests skip and say why.
set -euo pipefail
pkgs=(chromium python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "install_system_deps: no apt-get; please install: ${missing[*]}" >&2; exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install_system_deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"

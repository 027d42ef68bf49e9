#!/bin/sh
# Install GNU Radio 3.10 (Debian's package) for the system Python, /usr/bin/python3; idempotent.
# mfcomm runs the GNU Radio channel flowgraph under that interpreter (see README, "GNU Radio as the channel").
set -eu
PYTHON=/usr/bin/python3
check='from gnuradio import gr, channels, zeromq, blocks; print("GNU Radio", gr.version())'
if "$PYTHON" -c "$check" 2>/dev/null; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends gnuradio >/dev/null
"$PYTHON" -c "$check"

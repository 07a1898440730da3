#!/bin/sh
# Installs etcd 3 (Debian package etcd-server, 3.4.x on bookworm) for the benchmarks that measure
# a 3-member etcd cluster next to SMAC in the same run. Does nothing if `etcd` is already on PATH.
# Needs root (or sudo) and apt (scripts/lib/apt-install.sh); exits non-zero if it cannot install,
# and the benchmark then skips the etcd part.
set -eu
exec "$(dirname "$0")/lib/apt-install.sh" etcd etcd-server

#!/bin/sh
# Installs etcd 3 (Debian package etcd-server, 3.4.x on bookworm) for the replication benchmark,
# which measures a 3-member etcd cluster next to SMAC in the same run. Does nothing if `etcd` is
# already on PATH. Needs root (or sudo) and apt; exits non-zero if it cannot install, and the
# benchmark then skips the etcd part.
set -eu

if command -v etcd >/dev/null 2>&1; then
  echo "etcd already installed: $(command -v etcd)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-etcd: apt-get not found; install etcd 3 by hand and put it on PATH" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-etcd: needs root (or sudo) to run apt-get install etcd-server" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# --no-install-recommends: the server binary only; no service is started by the benchmark's
# install (Debian's package would enable one under systemd, which this machine may not run).
$SUDO apt-get install -y --no-install-recommends etcd-server

if ! command -v etcd >/dev/null 2>&1; then
  echo "install-etcd: etcd-server installed but etcd is not on PATH" >&2
  exit 1
fi
echo "etcd installed: $(command -v etcd) ($(etcd --version 2>/dev/null | head -n 1))"

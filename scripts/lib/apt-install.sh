#!/bin/sh
# Installs one Debian package when the command it provides is missing, for the tests and
# benchmarks that drive a real third-party program (dig, prometheus, chromium, etcd).
#   scripts/lib/apt-install.sh <command> <package> [<package> ...]
# Does nothing if <command> is already on PATH. Needs root (or sudo) and apt-get; exits non-zero
# with one line on stderr when it cannot install, and the caller then skips (or, under
# SMAC_REQUIRE_EXTERNAL=1, fails). Concurrent callers wait for apt's lock instead of failing.
set -eu

if [ "$#" -lt 2 ]; then
  echo "usage: apt-install.sh <command> <package> [<package> ...]" >&2
  exit 2
fi
cmd="$1"
shift

if command -v "$cmd" >/dev/null 2>&1; then
  exit 0
fi
# Test files install in parallel: one apt run at a time (apt-get update's list lock is not
# covered by DPkg::Lock::Timeout everywhere). Re-run under the lock, so the check above sees
# what the previous holder installed.
if [ -z "${SMAC_APT_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
  SMAC_APT_LOCKED=1 exec flock -w 1200 /tmp/.smac-apt.lock "$0" "$cmd" "$@"
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-install: apt-get not found; install $* by hand so that '$cmd' is on PATH" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo -n"
  else
    echo "apt-install: needs root (or sudo) to install $*" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
LOCK="-o DPkg::Lock::Timeout=600"
# Update the package lists once per machine boot at most (a stamp under /tmp), then install.
stamp=/tmp/.smac-apt-updated
if [ ! -e "$stamp" ]; then
  $SUDO apt-get $LOCK update -qq >&2 && touch "$stamp"
fi
# --no-install-recommends: the program only; no services are started by an install here.
if ! $SUDO apt-get $LOCK install -y -qq --no-install-recommends "$@" >&2; then
  # A stale stamp can point at package lists that moved on: refresh once and retry.
  $SUDO apt-get $LOCK update -qq >&2 && touch "$stamp"
  $SUDO apt-get $LOCK install -y -qq --no-install-recommends "$@" >&2
fi
if ! command -v "$cmd" >/dev/null 2>&1; then
  echo "apt-install: $* installed but '$cmd' is not on PATH" >&2
  exit 1
fi

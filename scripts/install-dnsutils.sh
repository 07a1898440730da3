#!/bin/sh
# Installs dig (Debian's dnsutils) for the DNS interface test (test/dns/dig.test.ts), which
# queries a three-agent cluster's DNS listeners with a resolver that is not part of the project.
# Does nothing if dig is already on PATH; see scripts/lib/apt-install.sh for how it installs.
set -eu
exec "$(dirname "$0")/lib/apt-install.sh" dig dnsutils

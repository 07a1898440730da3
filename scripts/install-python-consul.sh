#!/bin/sh
# Installs Debian's python3-consul (the `consul` Python module, python-consul 0.7.x), the
# third-party Consul client the Consul-compatibility test drives (test/consul/python-consul.test.ts).
# Debian's prometheus cannot be that client: bookworm's 2.42 is built without Consul service
# discovery (docs/consul.md). Does nothing when /usr/bin/python3 can already `import consul`.
# Exits non-zero with a line on stderr when it cannot install; the test then skips (or fails
# under SMAC_REQUIRE_EXTERNAL=1).
set -eu

PYTHON=/usr/bin/python3
has_module() {
  [ -x "$PYTHON" ] && "$PYTHON" -c 'import consul' >/dev/null 2>&1
}

if has_module; then
  exit 0
fi
# apt-install.sh installs when its command is missing; the package ships a module, not a
# command, so name one it never provides and check the module here afterwards.
"$(dirname "$0")/lib/apt-install.sh" smac-python-consul-module python3-consul 2>/dev/null || true
if ! has_module; then
  echo "install-python-consul: cannot import the consul module in $PYTHON after installing python3-consul (needs root or sudo, and apt-get)" >&2
  exit 1
fi

#!/usr/bin/python3
"""Drives Debian's python3-consul (python-consul 0.7, a Consul client that is not part of SMAC)
against SMAC's Consul-compatible listener, for test/consul/python-consul.test.ts.

    python-consul-client.py HOST PORT snapshot SERVICE KV_PREFIX
    python-consul-client.py HOST PORT watch SERVICE present|absent ENDPOINT_ID DEADLINE_S

The agent's API token comes in the environment variable SMAC_TEST_CONSUL_TOKEN and is given to
the client as consul.Consul(token=...) (CONSUL_HTTP_TOKEN, which python-consul would read
itself, is kept out of the environment by the test). Prints one JSON object per line. `watch` first reads the passing endpoints of SERVICE at once,
then follows them with blocking queries (index= and wait=, as Consul clients do) until
ENDPOINT_ID is present (or absent), and exits 0; it exits 1 at the deadline.
"""
import json
import os
import sys
import time

import consul


def ids(entries):
    return sorted(e["Service"]["ID"] for e in entries or [])


def unsent_token(c, call):
    """python-consul 0.7 sends no token (its ?token=) on agent.self() and status.leader(), which
    SMAC's listener requires as every other path: those calls send it as X-Consul-Token."""
    c.http.session.headers["X-Consul-Token"] = c.token or ""
    try:
        return call()
    finally:
        del c.http.session.headers["X-Consul-Token"]


def snapshot(c, service, prefix):
    services_index, services = c.catalog.services()
    health_index, health = c.health.service(service, passing=True)
    _, catalog = c.catalog.service(service)
    _, nodes = c.catalog.nodes()
    _, kv = c.kv.get(prefix, recurse=True)
    me = unsent_token(c, c.agent.self)
    return {
        "servicesIndex": services_index,
        "services": services,
        "healthIndex": health_index,
        "passing": ids(health),
        "healthNodes": sorted(e["Node"]["Node"] for e in health or []),
        "checks": sorted(ch["CheckID"] for e in health or [] for ch in e["Checks"]),
        "catalog": sorted(
            [e["ServiceID"], e["Node"], e["ServiceAddress"], e["ServicePort"], e["ServiceTags"]]
            for e in catalog or []
        ),
        "nodes": sorted(n["Node"] for n in nodes or []),
        "kv": {e["Key"]: (e["Value"] or b"").decode("utf-8") for e in kv or []},
        "datacenter": me["Config"]["Datacenter"],
        "nodeName": me["Config"]["NodeName"],
        "leader": unsent_token(c, c.status.leader),
    }


def watch(c, service, want, endpoint, deadline_s):
    index, entries = c.health.service(service, passing=True)
    print(json.dumps({"index": index, "ids": ids(entries), "blocking": False}), flush=True)
    end = time.time() + deadline_s
    while time.time() < end:
        index, entries = c.health.service(service, index=index, wait="5s", passing=True)
        found = endpoint in ids(entries)
        print(json.dumps({"index": index, "ids": ids(entries), "blocking": True}), flush=True)
        if found == (want == "present"):
            return 0
    return 1


def main(argv):
    c = consul.Consul(host=argv[1], port=int(argv[2]), token=os.environ.get("SMAC_TEST_CONSUL_TOKEN"))
    if argv[3] == "snapshot":
        print(json.dumps(snapshot(c, argv[4], argv[5])), flush=True)
        return 0
    if argv[3] == "watch":
        return watch(c, argv[4], argv[5], argv[6], float(argv[7]))
    print("unknown command " + argv[3], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

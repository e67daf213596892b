#!/usr/bin/env python3
"""Generates one synthetic cluster three ways for bench/dns.sh:

  objects.json  Services + EndpointSlices (JSON stream) for `knet dns --objects`
  zone.txt      the equivalent cluster.local zone for Knot DNS
  queries.txt   a dnsperf query mix: ClusterIP A, headless A, SRV,
                AAAA NODATA and NXDOMAIN

Usage: dns_gen.py OUTDIR SERVICES ENDPOINTS_PER_SERVICE [--no-zone]
80% of Services are ClusterIP, 20% headless (StatefulSet-style hostnames);
Services spread over 100 namespaces. Each endpoint has a unique IPv4 address.
"""
import json
import os
import random
import sys


def main():
    out, n_svc, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    want_zone = "--no-zone" not in sys.argv
    os.makedirs(out, exist_ok=True)
    rnd = random.Random(42)
    zone = open(os.path.join(out, "zone.txt"), "w") if want_zone else None
    if zone:
        zone.write("$ORIGIN cluster.local.\n$TTL 30\n")
        zone.write("@ SOA ns.dns hostmaster 1 7200 1800 86400 30\n@ NS ns.dns\nns.dns A 10.96.0.10\n")
        zone.write('dns-version TXT "1.1.0"\n')
    clusterip, headless = [], []
    ep_counter = 0
    with open(os.path.join(out, "objects.json"), "w") as f:
        for i in range(n_svc):
            ns, name = f"ns{i % 100}", f"svc{i}"
            is_headless = i % 5 == 4
            cip = None if is_headless else f"10.{96 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
            svc = {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": cip or "None", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
            }
            f.write(json.dumps(svc, separators=(",", ":")) + "\n")
            eps = []
            for j in range(per):
                e = ep_counter
                ep_counter += 1
                ip = f"{100 + (e >> 16)}.{(e >> 8) & 255}.{e & 255}.{1 + j % 250}"
                ep = {"addresses": [ip], "conditions": {"ready": True}}
                if is_headless:
                    ep["hostname"] = f"{name}-{j}"
                eps.append(ep)
            sl = {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{name}-x", "namespace": ns, "labels": {"kubernetes.io/service-name": name}},
                "addressType": "IPv4", "endpoints": eps,
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
            f.write(json.dumps(sl, separators=(",", ":")) + "\n")
            fq = f"{name}.{ns}.svc"
            (headless if is_headless else clusterip).append(fq)
            if not zone:
                continue
            if cip:
                zone.write(f"{fq} A {cip}\n")
                zone.write(f"_http._tcp.{fq} SRV 0 100 80 {fq}.cluster.local.\n")
            else:
                for j, ep in enumerate(eps):
                    zone.write(f"{fq} A {ep['addresses'][0]}\n")
                    zone.write(f"{name}-{j}.{fq} A {ep['addresses'][0]}\n")
                    w = 100 // per
                    zone.write(f"_http._tcp.{fq} SRV 0 {w} 8080 {name}-{j}.{fq}.cluster.local.\n")
    if zone:
        zone.close()
    with open(os.path.join(out, "queries.txt"), "w") as q:
        for k in range(100000):
            r = k % 20
            if r < 8:
                q.write(f"{rnd.choice(clusterip)}.cluster.local A\n")
            elif r < 12:
                q.write(f"{rnd.choice(headless)}.cluster.local A\n")
            elif r < 15:
                q.write(f"_http._tcp.{rnd.choice(clusterip)}.cluster.local SRV\n")
            elif r < 18:
                q.write(f"{rnd.choice(clusterip)}.cluster.local AAAA\n")
            else:
                q.write(f"nosuch{k}.ns{k % 100}.svc.cluster.local A\n")


if __name__ == "__main__":
    main()

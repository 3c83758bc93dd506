#!/usr/bin/env python3
"""Checks deploy/kubernetes without a cluster: every document parses and has the fields its kind needs; the
kustomization lists exactly the files there; selectors, services, probes, secrets and config maps refer to
things that exist; the shards cover 0..N-1 once; the router's route file lists every shard's Service in shard
order, and the router gets the route file, the shards' token and probes but no index options; the Indexed Job
shards its input by its completion index; and every option the manifests pass to neardup or neardup-server is
one the built programs accept (their --help).

Usage: test_manifests.py DEPLOY_DIR NEARDUP NEARDUP_SERVER
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

KINDS = {"Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1", "Job": "batch/v1"}
problems = []


def problem(where, what):
    problems.append(f"{where}: {what}")


def need(doc, path, where):
    """The value at a dotted path, or None with a problem recorded."""
    value = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            problem(where, f"missing {path}")
            return None
        value = value[part]
    return value


def arg_value(args, option):
    """The value after an option in a container's args, or None."""
    return args[args.index(option) + 1] if option in args[:-1] else None


def file_source(pod, container, path):
    """Where a file a container reads comes from: (kind, name, key) of the ConfigMap or Secret volume mounted at
    or above the path, or None."""
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        at = mount.get("mountPath", "").rstrip("/")
        if mount.get("subPath"):
            if at != path:
                continue
            relative = mount["subPath"]
        elif path.startswith(at + "/"):
            relative = path[len(at) + 1:]
        else:
            continue
        volume = volumes.get(mount.get("name"), {})
        for kind, field, name_field in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
            if field in volume:
                items = volume[field].get("items")
                key = next((i.get("key") for i in items if i.get("path") == relative), None) if items else relative
                return kind, volume[field].get(name_field), key
        return None
    return None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def options_of(program, *subcommand):
    """The long options a program's --help lists (for a subcommand: its own and the program's)."""
    text = subprocess.run([program, "--help"], capture_output=True, text=True, check=True).stdout
    if subcommand:
        text += subprocess.run([program, *subcommand, "--help"], capture_output=True, text=True, check=True).stdout
    return set(re.findall(r"(--[a-z][a-z0-9-]*)", text))


def main():
    deploy, neardup, server = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    kustomization = yaml.safe_load((deploy / "kustomization.yaml").read_text())
    listed = kustomization.get("resources", [])
    present = sorted(p.name for p in deploy.glob("*.yaml") if p.name != "kustomization.yaml")
    if sorted(listed) != present:
        problem("kustomization.yaml", f"resources {sorted(listed)} are not the files {present}")

    docs = []
    for name in listed:
        for doc in yaml.safe_load_all((deploy / name).read_text()):
            if doc is None:
                continue
            where = f"{name}: {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            kind = doc.get("kind")
            if kind not in KINDS:
                problem(where, f"kind {kind!r} is not one these manifests use")
            elif doc.get("apiVersion") != KINDS[kind]:
                problem(where, f"apiVersion {doc.get('apiVersion')!r}, expected {KINDS[kind]}")
            need(doc, "metadata.name", where)
            docs.append((where, doc))

    by_kind = {}
    for where, doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = (where, doc)
    secrets = {n: set(d.get("stringData", {})) | set(d.get("data", {})) for n, (_, d) in by_kind.get("Secret", {}).items()}
    config_maps = {n: d.get("data", {}) for n, (_, d) in by_kind.get("ConfigMap", {}).items()}
    server_options = options_of(server)
    index_options = options_of(neardup, "index")

    def check_pod(where, pod, program_options):
        containers = need(pod, "containers", where) or []
        if not containers:
            problem(where, "no containers")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for c in containers:
            cw = f"{where} container {c.get('name')}"
            for field in ("name", "image", "command", "args"):
                need(c, field, cw)
            for arg in c.get("args", []):
                if arg.startswith("--") and arg not in program_options:
                    problem(cw, f"{arg} is not an option of {c.get('command')}")
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref.get("key") not in secrets.get(ref.get("name"), set()):
                    problem(cw, f"env {env['name']}: no key {ref.get('key')!r} in a Secret {ref.get('name')!r}")
            for mount in c.get("volumeMounts", []):
                if mount["name"] not in volumes:
                    problem(cw, f"mounts {mount['name']!r}, which is no volume of the pod")
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                if probe in c:
                    get = c[probe].get("httpGet", {})
                    if get.get("port") not in ports and get.get("port") not in ports.values():
                        problem(cw, f"{probe} port {get.get('port')!r} is not a container port")
                    if get.get("path") not in ("/readyz", "/healthz"):
                        problem(cw, f"{probe} path {get.get('path')!r}")
        for name, v in volumes.items():
            if "configMap" in v and v["configMap"]["name"] not in config_maps:
                problem(where, f"volume {name}: no ConfigMap {v['configMap']['name']!r}")
            if "secret" in v:
                s = v["secret"]["secretName"]
                if s not in secrets:
                    problem(where, f"volume {name}: no Secret {s!r}")
                for item in v["secret"].get("items", []):
                    if item["key"] not in secrets.get(s, set()):
                        problem(where, f"volume {name}: no key {item['key']!r} in Secret {s!r}")
        return containers

    shards, routers = [], []
    for name, (where, d) in by_kind.get("Deployment", {}).items():
        match = need(d, "spec.selector.matchLabels", where) or {}
        labels = need(d, "spec.template.metadata.labels", where) or {}
        if not match or any(labels.get(k) != v for k, v in match.items()):
            problem(where, f"selector {match} does not select its pod labels {labels}")
        containers = check_pod(where, need(d, "spec.template.spec", where) or {}, server_options)
        for c in containers:
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
                problem(where, "a serving container needs readinessProbe /readyz (the index loads after the listen)")
            args = c.get("args", [])
            if "--route" in args:
                routers.append((where, d, c))
                continue
            if "--shard" in args:
                shards.append((where, args[args.index("--shard") + 1], labels, d, c))
            if "--catalog" not in args and not any(e.get("name") == "NEARDUP_CATALOG" for e in c.get("env", [])):
                problem(where, "replicas must share a catalog (--catalog or NEARDUP_CATALOG)")
    counts = {s.split("/")[1] for _, s, *_ in shards}
    if len(counts) != 1:
        problem("shards", f"shard counts disagree: {sorted(counts)}")
    else:
        n = int(counts.pop())
        got = sorted(int(s.split("/")[0]) for _, s, *_ in shards)
        if got != list(range(n)):
            problem("shards", f"shards {got} do not cover 0..{n - 1} once each")

    for name, (where, svc) in by_kind.get("Service", {}).items():
        selector = need(svc, "spec.selector", where) or {}
        selected = [d for _, d in by_kind.get("Deployment", {}).values()
                    if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in selector.items())]
        if len(selected) != 1:
            problem(where, f"selector {selector} selects {len(selected)} Deployments, expected 1")
            continue
        ports = {p.get("name") for c in selected[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"].get("ports", []):
            if p.get("targetPort") not in ports:
                problem(where, f"targetPort {p.get('targetPort')!r} is no named port of its pods")

    check_routers(routers, shards, by_kind, config_maps, secrets, kustomization.get("namespace"))

    jobs = by_kind.get("Job", {})
    if not jobs:
        problem("jobs", "no backfill Job")
    for name, (where, job) in jobs.items():
        spec = job.get("spec", {})
        if spec.get("completionMode") != "Indexed":
            problem(where, "the backfill must be an Indexed Job (JOB_COMPLETION_INDEX picks each pod's share)")
        pod = need(job, "spec.template.spec", where) or {}
        if pod.get("restartPolicy") not in ("Never", "OnFailure"):
            problem(where, f"restartPolicy {pod.get('restartPolicy')!r}")
        for c in check_pod(where, pod, index_options):
            args = c.get("args", [])
            if "--shard" not in args or args[args.index("--shard") + 1] != f"job/{spec.get('completions')}":
                problem(where, f"index args must shard by the completion index: --shard job/{spec.get('completions')}")

    for p in problems:
        print(p, file=sys.stderr)
    print(f"test_manifests: {len(docs)} documents, {len(shards)} shards, {len(routers)} routers, {len(jobs)} jobs, "
          f"{len(problems)} problems")
    return 1 if problems else 0


ROUTE_FIELDS = {"shards", "deadline_ms", "try_timeout_ms", "health_interval_ms"}


def check_route(where, text, shards, services, namespace):
    """The route file: JSON the router accepts, listing for shard k (k-th list) only URLs of a Service that
    selects the Deployment of `--shard k/N`, on a port of that Service, N the number of lists."""
    try:
        route = json.loads(text)
    except ValueError as e:
        problem(where, f"route.json is not JSON: {e}")
        return
    if not isinstance(route, dict):
        problem(where, "route.json must be a JSON object with 'shards'")
        return
    for field in sorted(set(route) - ROUTE_FIELDS):
        problem(where, f"route.json: unknown field {field!r} (the router refuses it)")
    for field in ("deadline_ms", "try_timeout_ms", "health_interval_ms"):
        value = route.get(field, 1)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 600000:
            problem(where, f"route.json: {field} {value!r} is not milliseconds in [1, 600000]")
    if isinstance(route.get("try_timeout_ms"), int) and isinstance(route.get("deadline_ms"), int) \
            and route["try_timeout_ms"] > route["deadline_ms"]:
        problem(where, "route.json: try_timeout_ms is over deadline_ms")
    lists = route.get("shards")
    if not isinstance(lists, list) or not lists or not all(isinstance(l, list) and l for l in lists):
        problem(where, "route.json: 'shards' must be a non-empty list of non-empty lists of replica URLs")
        return
    if len(lists) != len(shards):
        problem(where, f"route.json lists {len(lists)} shards, the manifests have {len(shards)} shard Deployments")
    hosts = {None, namespace, f"{namespace}.svc", f"{namespace}.svc.cluster.local"}
    seen = set()
    for k, urls in enumerate(lists):
        want = f"{k}/{len(lists)}"
        for url in urls:
            m = re.fullmatch(r"http://([A-Za-z0-9-]+)(?:\.([A-Za-z0-9.-]+))?:([0-9]+)/?", url) if isinstance(url, str) else None
            if not m:
                problem(where, f"route.json shard {k}: {url!r} is not http://SERVICE:PORT")
                continue
            if url in seen:
                problem(where, f"route.json shard {k}: {url} is listed twice")
            seen.add(url)
            name, domain, port = m.group(1), m.group(2), int(m.group(3))
            if domain not in hosts:
                problem(where, f"route.json shard {k}: {url} is not in the namespace {namespace!r}")
            if name not in services:
                problem(where, f"route.json shard {k}: {url} names no Service of these manifests")
                continue
            svc = services[name][1]
            served = [s for _, s, labels, *_ in shards if selects(svc.get("spec", {}).get("selector", {}), labels)]
            if served != [want]:
                problem(where, f"route.json shard {k}: {url} is Service {name}, which serves shards {served}, not {want}")
            svc_ports = [p.get("port") for p in svc.get("spec", {}).get("ports", [])]
            if port not in svc_ports:
                problem(where, f"route.json shard {k}: port {port} is no port of Service {name} {svc_ports}")


def check_routers(routers, shards, by_kind, config_maps, secrets, namespace):
    """The router: one Deployment running neardup-server --route, whose route file is a mounted ConfigMap key that
    check_route accepts, that passes no index options, reads the shards' token, listens on its container port
    with /readyz and /healthz probes there, and that a Service selects."""
    if len(routers) != 1:
        problem("router", f"{len(routers)} router Deployments (neardup-server --route), expected 1")
    shard_tokens = set()
    for _, _, _, d, c in shards:
        path = arg_value(c.get("args", []), "--token-file")
        shard_tokens.add(file_source(d["spec"]["template"]["spec"], c, path) if path else None)
    if len(shard_tokens) > 1:
        problem("shards", f"the shards read different tokens: {sorted(map(str, shard_tokens))}")
    for where, d, c in routers:
        pod, args = d["spec"]["template"]["spec"], c.get("args", [])
        for option in ("--db", "--catalog", "--shard"):
            if option in args:
                problem(where, f"the router must not pass {option} (it holds no index; neardup-server --route refuses it)")
        if any(e.get("name") == "NEARDUP_CATALOG" for e in c.get("env", [])):
            problem(where, "the router must not get NEARDUP_CATALOG (that is --catalog, which --route refuses)")

        path = arg_value(args, "--route")
        source = file_source(pod, c, path) if path else None
        if not source or source[0] != "ConfigMap" or source[2] not in config_maps.get(source[1], {}):
            problem(where, f"--route {path}: no ConfigMap key is mounted at that path (got {source})")
        else:
            check_route(f"{where} ConfigMap/{source[1]}", config_maps[source[1]][source[2]], shards,
                        by_kind.get("Service", {}), namespace)

        path = arg_value(args, "--token-file")
        token = file_source(pod, c, path) if path else None
        if token is None or token[0] != "Secret" or token[2] not in secrets.get(token[1], set()):
            problem(where, f"--token-file {path}: no Secret key is mounted at that path (writes need the token)")
        elif shard_tokens and token not in shard_tokens:
            problem(where, f"--token-file {path} is {token}, not the shards' token {sorted(map(str, shard_tokens))}")

        ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
        listen = arg_value(args, "--listen")
        host, _, port = (listen or "").rpartition(":")
        if listen is None:
            problem(where, "the router needs --listen 0.0.0.0:PORT (the default, 127.0.0.1, is unreachable from the Service)")
        elif host in ("", "127.0.0.1", "localhost", "[::1]") or not port.isdigit() or int(port) not in ports.values():
            problem(where, f"--listen {listen} must be a non-loopback address on a container port {sorted(ports.values())}")
        for probe, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            get = c.get(probe, {}).get("httpGet", {})
            if get.get("path") != want:
                problem(where, f"the router needs {probe} {want}, got {get.get('path')!r}")
            probed = ports.get(get.get("port"), get.get("port"))
            if listen is not None and str(probed) != port:
                problem(where, f"{probe} port {get.get('port')!r} is not the port the router listens on ({port})")

        labels = d["spec"]["template"]["metadata"].get("labels", {})
        if not any(selects(svc.get("spec", {}).get("selector", {}), labels) for _, svc in by_kind.get("Service", {}).values()):
            problem(where, "no Service selects the router's pods (the entry point clients use)")


if __name__ == "__main__":
    sys.exit(main())

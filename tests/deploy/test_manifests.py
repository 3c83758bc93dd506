#!/usr/bin/env python3
"""Checks deploy/kubernetes without a cluster: every document parses and has the fields its kind needs; the
kustomization lists exactly the files there; selectors, services, probes, secrets and config maps refer to
things that exist; the shards cover 0..N-1 once; the Indexed Job shards its input by its completion index; and
every option the manifests pass to neardup or neardup-server is one the built programs accept (their --help).

Usage: test_manifests.py DEPLOY_DIR NEARDUP NEARDUP_SERVER
"""
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

    shards = []
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
            if "--shard" in args:
                shards.append((where, args[args.index("--shard") + 1], labels))
            if "--catalog" not in args and not any(e.get("name") == "NEARDUP_CATALOG" for e in c.get("env", [])):
                problem(where, "replicas must share a catalog (--catalog or NEARDUP_CATALOG)")
    counts = {s.split("/")[1] for _, s, _ in shards}
    if len(counts) != 1:
        problem("shards", f"shard counts disagree: {sorted(counts)}")
    else:
        n = int(counts.pop())
        got = sorted(int(s.split("/")[0]) for _, s, _ in shards)
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
    print(f"test_manifests: {len(docs)} documents, {len(shards)} shards, {len(jobs)} jobs, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Regenerates protobuf/schema_table.rs: field numbers, JSON names and shapes
of the Kubernetes messages knet decodes.

Inputs are the upstream k8s.io/api and k8s.io/apimachinery files
`<group>/v1/generated.proto` (field numbers and proto types) and
`<group>/v1/types.go` (JSON names, omitempty, pointers, inline embedding),
copied into one directory as `<group>.proto` / `<group>_types.go` (meta for
apimachinery's pkg/apis/meta/v1). Usage: gen_schema.py DIR > schema_table.rs
"""
import re
import sys

GROUPS = ["core", "apps", "batch", "networking", "policy", "scheduling",
          "discovery", "coordination", "events", "rbac", "authorization",
          "authentication", "meta"]
ROOTS = {
    "core": ["Namespace", "Service", "ConfigMap", "Secret", "ServiceAccount", "Pod",
             "Endpoints", "Node", "Event", "ResourceQuota", "PersistentVolumeClaim",
             "ReplicationController", "LimitRange", "PodTemplate"],
    "apps": ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"],
    "batch": ["Job", "CronJob"],
    "networking": ["Ingress", "NetworkPolicy", "IngressClass"],
    "policy": ["PodDisruptionBudget"],
    "scheduling": ["PriorityClass"],
    "discovery": ["EndpointSlice"],
    "coordination": ["Lease"],
    "events": ["Event"],
    "rbac": ["Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"],
    # Request bodies only (kubectl auth can-i / whoami); the table keeps
    # their metadata and spec, which is all a client sends.
    "authorization": ["SelfSubjectAccessReview", "SelfSubjectRulesReview"],
    "authentication": ["SelfSubjectReview"],
}
SPECIAL = {
    ".k8s.io.apimachinery.pkg.api.resource.Quantity": "q",
    ".k8s.io.apimachinery.pkg.util.intstr.IntOrString": "n",
    ".k8s.io.apimachinery.pkg.apis.meta.v1.Time": "t",
    ".k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "T",
    ".k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "D",
    ".k8s.io.apimachinery.pkg.runtime.RawExtension": "r",
    "Time": "t", "MicroTime": "T", "Duration": "D",
}
SCALAR = {"string": "s", "bytes": "b", "int32": "i", "int64": "l", "bool": "u",
          "double": "d", "float": "f"}


def pkg_of(ref, group):
    m = re.match(r"\.k8s\.io\.api\.(\w+)\.v1\.(\w+)$", ref)
    if m:
        return f"{m.group(1)}.v1.{m.group(2)}"
    m = re.match(r"\.k8s\.io\.apimachinery\.pkg\.apis\.meta\.v1\.(\w+)$", ref)
    if m:
        return f"meta.v1.{m.group(1)}"
    if ref.startswith("."):
        return None
    return f"{group}.v1.{ref}"


def parse_proto(path, group):
    msgs, cur = {}, None
    for line in open(path):
        m = re.match(r"^message (\w+) \{", line)
        if m:
            cur = m.group(1)
            msgs[f"{group}.v1.{cur}"] = []
            continue
        if line.startswith("}"):
            cur = None
            continue
        if not cur:
            continue
        m = re.match(r"\s+(optional|repeated)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+);", line)
        mm = re.match(r"\s+map<string,\s*([\w.]+)>\s+(\w+)\s*=\s*(\d+);", line)
        if m:
            msgs[f"{group}.v1.{cur}"].append(
                (m.group(1) == "repeated", m.group(2), m.group(3), int(m.group(4)), False))
        elif mm:
            msgs[f"{group}.v1.{cur}"].append(
                (False, mm.group(1), mm.group(2), int(mm.group(3)), True))
    return msgs


def parse_go(path, group):
    """(message, field number) -> (json name, omitempty, pointer, inline)."""
    info, cur = {}, None
    for line in open(path):
        m = re.match(r"^type (\w+) struct", line)
        if m:
            cur = m.group(1)
            continue
        if line.startswith("}"):
            cur = None
            continue
        j = re.search(r'json:"([^"]*)"', line)
        p = re.search(r'protobuf:"\w+,(\d+),', line)
        if not (cur and j and p):
            continue
        decl = line.split("`")[0].split()
        gotype = decl[-1] if decl else ""
        parts = j.group(1).split(",")
        info[(f"{group}.v1.{cur}", int(p.group(1)))] = (
            parts[0], "omitempty" in parts[1:], gotype.startswith("*"),
            parts[0] == "")
    return info


def main(d):
    msgs, info = {}, {}
    for g in GROUPS:
        msgs.update(parse_proto(f"{d}/{g}.proto", g))
        info.update(parse_go(f"{d}/{g}_types.go", g))
    out, todo = {}, [f"{g}.v1.{k}" for g, ks in ROOTS.items() for k in ks]
    while todo:
        name = todo.pop()
        if name in out or name not in msgs:
            continue
        group = name.split(".")[0]
        fields = []
        for rep, ty, pname, num, is_map in msgs[name]:
            jname, omit, ptr, inline = info.get((name, num), (pname, True, False, False))
            if ty in SPECIAL:
                code = SPECIAL[ty]
            elif ty in SCALAR:
                code = SCALAR[ty]
            else:
                ref = pkg_of(ty, group)
                if ref is None or ref not in msgs:
                    sys.stderr.write(f"skip {name}.{pname}: {ty}\n")
                    continue
                code = "m" + ref
                todo.append(ref)
            if is_map:
                code = "M" + code
            flags = ("*" if rep else "") + ("p" if ptr else "") + \
                ("z" if not omit and not ptr else "") + ("i" if inline else "")
            fields.append(f"{num}={jname}:{code}:{flags}")
        out[name] = " ".join(fields)
    print("// @generated by gen_schema.py from k8s.io/api and k8s.io/apimachinery")
    print("// generated.proto field numbers and types.go JSON tags (facts only).")
    print("// Field: `<number>=<json name>:<type>:<flags>`; see schema.rs.")
    print()
    print("/// `(message, fields)` for every message knet decodes, sorted by name.")
    print("#[rustfmt::skip]")
    print("pub(super) static TABLE: &[(&str, &str)] = &[")
    for name in sorted(out):
        print(f'    ("{name}", "{out[name]}"),')
    print("];")


main(sys.argv[1])

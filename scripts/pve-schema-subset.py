#!/usr/bin/env python3
"""Extract the part of Proxmox VE's API schema that Kiln's lab node serves.

Reads the API viewer data (`apidoc.json`, from pve-docs) and writes
`server/lab/src/pve-schema.json`: for each served endpoint its path, methods and
parameter schemas, with descriptions dropped to keep it small.

Usage: scripts/pve-schema-subset.py [APIDOC] [OUT]
  defaults: ../shared/pve/apidoc.json (relative to the repository root's parent)
            server/lab/src/pve-schema.json
"""
import json
import os
import sys

# (path, methods) the lab serves. Keep in step with server/lab/src/handlers/.
ENDPOINTS = [
    ("/version", ["GET"]),
    ("/nodes", ["GET"]),
    ("/cluster/resources", ["GET"]),
    ("/cluster/nextid", ["GET"]),
    ("/pools", ["GET"]),
    ("/access/permissions", ["GET"]),
    ("/access/ticket", ["GET", "POST"]),
    ("/access/acl", ["GET", "PUT"]),
    ("/access/users/{userid}/token/{tokenid}", ["POST", "DELETE"]),
    ("/nodes/{node}/lxc", ["GET", "POST"]),
    ("/nodes/{node}/lxc/{vmid}", ["DELETE"]),
    ("/nodes/{node}/lxc/{vmid}/config", ["GET", "PUT"]),
    ("/nodes/{node}/lxc/{vmid}/status/current", ["GET"]),
    ("/nodes/{node}/lxc/{vmid}/status/start", ["POST"]),
    ("/nodes/{node}/lxc/{vmid}/status/stop", ["POST"]),
    ("/nodes/{node}/lxc/{vmid}/status/shutdown", ["POST"]),
    ("/nodes/{node}/lxc/{vmid}/status/reboot", ["POST"]),
    ("/nodes/{node}/lxc/{vmid}/interfaces", ["GET"]),
    ("/nodes/{node}/lxc/{vmid}/rrddata", ["GET"]),
    ("/nodes/{node}/status", ["GET"]),
    ("/nodes/{node}/storage", ["GET"]),
    ("/nodes/{node}/storage/{storage}/content", ["GET"]),
    ("/nodes/{node}/network", ["GET"]),
    ("/nodes/{node}/tasks", ["GET"]),
    ("/nodes/{node}/tasks/{upid}/status", ["GET"]),
    ("/nodes/{node}/tasks/{upid}/log", ["GET"]),
]

# Schema keys that matter for validation; everything else (descriptions, typetext,
# verbose_description, format_description, ...) is dropped.
KEEP = {
    "type", "optional", "enum", "pattern", "minimum", "maximum", "maxLength",
    "minLength", "format", "default_key", "default", "requires", "alias",
    "keyAlias", "items", "properties", "additionalProperties",
}


def strip(schema):
    """Keeps only validation keys, recursively (format objects, items, properties)."""
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key not in KEEP:
            continue
        if key == "format" and isinstance(value, dict):
            out[key] = {k: strip(v) for k, v in value.items()}
        elif key == "properties":
            out[key] = {k: strip(v) for k, v in value.items()}
        elif key == "items":
            out[key] = strip(value)
        else:
            out[key] = value
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "pve", "apidoc.json")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "server", "src", "lab", "pve-schema.json")
    with open(src, encoding="utf-8") as f:
        tree = json.load(f)
    index = {}

    def walk(node):
        index[node["path"]] = node
        for child in node.get("children", []):
            walk(child)

    for node in tree:
        walk(node)
    endpoints = []
    for path, methods in ENDPOINTS:
        node = index.get(path)
        if node is None:
            sys.exit(f"{path}: not in {src}")
        entry = {"path": path, "methods": {}}
        for method in methods:
            info = node.get("info", {}).get(method)
            if info is None:
                sys.exit(f"{method} {path}: not in {src}")
            entry["methods"][method] = {"parameters": strip(info.get("parameters", {}))}
        endpoints.append(entry)
    out = {
        "origin": "Proxmox VE API viewer data (apidoc.json from pve-docs), PVE 9.x; "
        "AGPL-3.0; (c) Proxmox Server Solutions GmbH. Subset extracted by "
        "scripts/pve-schema-subset.py: served endpoints only, descriptions dropped.",
        "endpoints": endpoints,
    }
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {dst}: {len(endpoints)} endpoints")


if __name__ == "__main__":
    main()

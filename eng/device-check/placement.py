#!/usr/bin/env python3
"""Reads ONNX Runtime profiles (OWONNX_ORT_PROFILE) and reports which provider ran each operator type.

Usage: placement.py profile.json [...] > placement.json. Exit 1 when GroupQueryAttention or MatMulNBits ran on
the CPU (each such node would mean host copies around it in every step).
"""
import collections, json, sys

MUST_BE_ON_GPU = {"GroupQueryAttention", "MatMulNBits"}


def main(paths):
    by_provider = collections.defaultdict(collections.Counter)
    for path in paths:
        with open(path) as f:
            events = json.load(f)
        seen = set()
        for e in events:
            args = e.get("args") or {}
            if e.get("cat") != "Node" or "provider" not in args or "op_name" not in args:
                continue
            node = e["name"].rsplit("_kernel_time", 1)[0]
            if node in seen:
                continue  # one entry per node, not per run
            seen.add(node)
            by_provider[args["provider"]][args["op_name"]] += 1
    on_cpu = sorted(op for op in by_provider.get("CPUExecutionProvider", {}) if op in MUST_BE_ON_GPU)
    report = {
        "profiles": paths,
        "nodes_by_provider": {p: dict(sorted(c.items())) for p, c in sorted(by_provider.items())},
        "gqa_or_matmulnbits_on_cpu": on_cpu,
        "ok": bool(by_provider) and not on_cpu,
    }
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Reads ONNX Runtime profiles (OWONNX_ORT_PROFILE) and reports which provider ran each operator type.

Usage: placement.py [--provider CUDAExecutionProvider] profile.json [...] > placement.json. Exit 1 when
GroupQueryAttention or MatMulNBits ran on another provider than the one named (on the CPU, each such node would
mean host copies around it in every step). check.sh's dry run names CPUExecutionProvider.
"""
import collections, json, sys

MUST_BE_ON_DEVICE = {"GroupQueryAttention", "MatMulNBits"}


def main(args):
    provider = "CUDAExecutionProvider"
    if args[:1] == ["--provider"]:
        provider, args = args[1], args[2:]
    paths = args
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
    elsewhere = sorted({f"{op} on {p}" for p, ops in by_provider.items() if p != provider for op in ops if op in MUST_BE_ON_DEVICE})
    on_device = sum(n for op, n in by_provider.get(provider, {}).items() if op in MUST_BE_ON_DEVICE)
    report = {
        "profiles": paths,
        "provider": provider,
        "nodes_by_provider": {p: dict(sorted(c.items())) for p, c in sorted(by_provider.items())},
        "gqa_or_matmulnbits_elsewhere": elsewhere,
        "ok": on_device > 0 and not elsewhere,
    }
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

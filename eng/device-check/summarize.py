#!/usr/bin/env python3
"""Folds the device check's detail files into one JSON and a short human summary (run by check.sh after each phase,
so that a check cut short still leaves both). Usage: summarize.py <detail-folder> <results-folder>.

Writes <results>/summary.json (every detail file, parsed, plus the verdict) and <results>/summary.md (a table to
paste into the README's GPU section). Stdlib only.
"""
import glob
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except Exception as e:  # a step that died mid-write leaves an unreadable file: say so, keep going
        return {"error": f"unreadable: {e}"}


def text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def steps(detail):
    rows = []
    path = os.path.join(detail, "steps.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return rows


def main(detail, results):
    out = {"ep": text(os.path.join(detail, "ep.txt")), "gpu": text(os.path.join(detail, "gpu.txt")),
           "providers": text(os.path.join(detail, "providers.txt")), "steps": steps(detail)}
    for path in sorted(glob.glob(os.path.join(detail, "*.json"))):
        out[os.path.basename(path)[:-5]] = load(path)

    def get(name, *keys):
        value = out.get(name)
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    ep = out["ep"] or "cuda"
    checks = []

    def check(name, ok, detail_text):
        checks.append({"check": name, "ok": ok, "detail": detail_text})

    providers = out["providers"] or ""
    provider_line = next((l for l in providers.splitlines() if l.startswith(ep + " ")), None)
    check(f"{ep} provider starts", provider_line is not None and provider_line.rstrip().endswith("ready"),
          provider_line or "providers not run")
    for name in sorted(k for k in out if k.startswith("placement-")):
        p = out[name]
        on_cpu = p.get("gqa_or_matmulnbits_elsewhere") if isinstance(p, dict) else None
        providers_seen = ", ".join(f"{prov}: {sum(ops.values())} nodes"
                                   for prov, ops in (p.get("nodes_by_provider") or {}).items()) if isinstance(p, dict) else ""
        check(f"placement {name[len('placement-'):]}", bool(get(name, "ok")),
              f"{providers_seen}; GQA/MatMulNBits on another provider: {on_cpu or 'none'}")
    for name in sorted(k for k in out if k.startswith("eval-")):
        e = out[name]
        if isinstance(e, dict) and "perplexity" in e:
            check(f"eval {name[len('eval-'):]}", True,
                  f"ppl {e['perplexity']:.4f} (CPU FP32 {e.get('reference_perplexity') or float('nan'):.4f}), "
                  f"KL {e.get('mean_kl_divergence') or 0:.3g}, top-1 {100 * (e.get('top1_agreement') or 0):.1f} %")
        else:
            check(f"eval {name[len('eval-'):]}", False, str(e)[:300])
    greedy = out.get("greedy")
    if isinstance(greedy, dict) and "rows" in greedy:
        same16 = sum(r.get("fp16_identical_to_cpu_fp32", False) for r in greedy["rows"])
        check("greedy text, FP32 on the device = FP32 on the CPU", bool(greedy.get("fp32_all_identical")),
              f"{sum(r.get('fp32_identical', False) for r in greedy['rows'])}/{len(greedy['rows'])} prompts identical; "
              f"fp16 on the device identical to CPU FP32 on {same16}/{len(greedy['rows'])} (not required)")
    for name in sorted(k for k in out if k.startswith("serve-")):
        s = out[name]
        failed = [c.get("name") for c in (s.get("checks") or []) if not c.get("ok")] if isinstance(s, dict) else ["unreadable"]
        check(f"serve {name[len('serve-'):]}", bool(get(name, "ok")), "failed: " + ", ".join(failed) if failed else "all slot copies gave the reference answers")
    bench_rows = []
    for name in sorted(k for k in out if k.startswith("bench-")):
        b = out[name]
        if isinstance(b, dict) and "decode_tokens_per_second" in b:
            s = b.get("settings") or {}
            bench_rows.append({"run": name[len("bench-"):], "batch": s.get("batch"), "prompt_tokens": s.get("prompt_tokens"),
                               "prefill_tokens_per_s": b["prefill_tokens_per_second"]["median"],
                               "decode_tokens_per_s": b["decode_tokens_per_second"]["median"],
                               "ttft_ms": b["time_to_first_token_ms"]["median"]})
        else:
            check(f"bench {name[len('bench-'):]}", False, str(b)[:300])
    for row in out["steps"]:
        if row.get("status") not in ("ok", None):
            check(f"step {row['name']}", False, f"{row['status']} after {row.get('seconds', 0):.0f} s")
    out["checks"] = checks
    out["bench"] = bench_rows
    out["verdict"] = "pass" if checks and all(c["ok"] for c in checks) else "fail"

    os.makedirs(results, exist_ok=True)
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(out, f, indent=1)
    lines = [f"Device check ({ep}): **{out['verdict']}**", "",
             f"GPU: {(out['gpu'] or 'unknown').splitlines()[-1] if out['gpu'] else 'unknown'}", "",
             "| check | ok | detail |", "| --- | --- | --- |"]
    lines += [f"| {c['check']} | {'yes' if c['ok'] else 'NO'} | {c['detail']} |" for c in checks]
    if bench_rows:
        lines += ["", "| bench | batch | prompt | prefill tok/s | decode tok/s | TTFT ms |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {r['run']} | {r['batch']} | {r['prompt_tokens']} | {r['prefill_tokens_per_s']:.0f} | "
                  f"{r['decode_tokens_per_s']:.1f} | {r['ttft_ms']:.1f} |" for r in bench_rows]
    with open(os.path.join(results, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

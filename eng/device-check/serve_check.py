"""Serving on CUDA with the KV cache in device memory: every kind of slot copy the scheduler makes, checked by its
effect on greedy answers (stdlib only; run by check.sh). Usage: serve_check.py <owonnx> <model-dir> <port> [ep]
(ep: cuda by default; cpu runs the same checks on a machine without a GPU, to try the script).

- compaction: a short request ends in slot 0 while a long one decodes in slot 1, which moves down (KvCache.CopySlot
  on device memory: before it was supported, serve --ep cuda failed here); the long answer must equal the same
  request answered alone;
- n choices: n = 3 greedy shares one prefill (the prompt's keys and values copied to two slots): three answers
  equal to the n = 1 answer;
- prefix cache: a long prompt sent twice; the second reuses the first's keys and values (cached_tokens > 0) and
  gives the same answer; a prompt sharing its start while another sequence decodes copies from that slot.
The expected answers come from a second server of the same model with --no-prefix-cache, asked one request at a time.
Prints JSON {"ok": bool, "checks": [...]} on stdout.
"""
import json, subprocess, sys, threading, time, urllib.request

owonnx, model, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
ep = sys.argv[4] if len(sys.argv) > 4 else "cuda"
servers = [subprocess.Popen([owonnx, "serve", model, "--ep", ep, "--port", str(p), "--max-batch", "4", "--model-name", "m", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
           for p, extra in ((port, []), (port + 1, ["--no-prefix-cache"]))]


def post(path, body, reference=False):
    url = f"http://127.0.0.1:{port + 1 if reference else port}" + path
    request = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return {"error": f"{e.code}: {e.read().decode(errors='replace')}"}


def complete(prompt, max_tokens, reference=False, **extra):
    body = {"model": "m", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True, **extra}
    return post("/v1/completions", body, reference)


def texts(r):
    return [c["text"] for c in r.get("choices", [])] or [r.get("error", "no choices")]


checks = []
try:
    for p in (port, port + 1):
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(1)
    long_prompt = "A fool and his money " * 40

    # Compaction: short in slot 0, long in slot 1; the short one ends first and the long one moves to slot 0.
    alone = texts(complete("Computers are", 80, reference=True))[0]
    results = {}
    short = threading.Thread(target=lambda: results.__setitem__("short", complete("Never trust a", 8)))
    short.start()
    time.sleep(0.05)
    results["long"] = complete("Computers are", 80)
    short.join()
    checks.append({"name": "compaction", "ok": texts(results["long"])[0] == alone and "error" not in results["short"],
                   "alone": alone, "batched": texts(results["long"])[0], "short": texts(results["short"])[0]})

    # n choices from one prefill.
    one = texts(complete("The best way to", 30, reference=True))[0]
    three = texts(complete("The best way to", 30, n=3))
    checks.append({"name": "n=3 greedy", "ok": three == [one] * 3, "n1": one, "n3": three})

    # Prefix cache: the same long prompt twice, then one sharing its start while another decodes.
    first = complete(long_prompt, 16)
    second = complete(long_prompt, 16)
    cached = second.get("usage", {}).get("prompt_tokens_details", {}).get("cached_tokens", 0)
    checks.append({"name": "prefix reused in place", "ok": cached > 0 and texts(first) == texts(second),
                   "cached_tokens": cached, "first": texts(first)[0], "second": texts(second)[0]})
    shared_alone = texts(complete(long_prompt + "You will", 16, reference=True))[0]
    # The runner's prompt differs from the cached one right after the shared part, and it decodes long enough.
    runner = threading.Thread(target=lambda: results.__setitem__("runner", complete(long_prompt + "Luck", 280)))
    runner.start()
    time.sleep(0.1)
    shared = complete(long_prompt + "You will", 16)
    runner.join()
    checks.append({"name": "prefix copied from a decoding slot", "ok": texts(shared)[0] == shared_alone and "error" not in results["runner"],
                   "cached_tokens": shared.get("usage", {}).get("prompt_tokens_details", {}).get("cached_tokens", 0),
                   "alone": shared_alone, "copied": texts(shared)[0]})
finally:
    err = ""
    for server in servers:
        server.terminate()
        try:
            err += server.communicate(timeout=30)[1] or ""
        except subprocess.TimeoutExpired:
            server.kill()
            err += server.communicate()[1] or ""
json.dump({"ok": bool(checks) and all(c["ok"] for c in checks), "checks": checks, "server_stderr_tail": (err or "")[-2000:]}, sys.stdout, indent=1)

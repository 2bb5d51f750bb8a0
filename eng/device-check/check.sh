#!/usr/bin/env bash
# The device check, run ON the NVIDIA machine (x86-64, CUDA 13 user-space libraries as Python wheels; no .NET,
# no NuGet, no network needed). Input: the parts pack.sh made (payload.tar.xz.part-* + SHA256SUMS) in one folder.
#
# Output, in the results folder (the device tool returns at most 8 files, so only these):
#   summary.md     a verdict and one table row per check, plus the bench table: paste it into the README
#   summary.json   everything: the verdict, each check, and every detail file parsed (placement, eval, greedy,
#                  serve, bench, the fatbin pruning, which step failed or timed out)
#   check.log      every command's output
#   details.tar.xz the detail files themselves
# Both summaries are rewritten after every phase, so a check cut short (a hang, the call's time limit) still
# returns what it measured. Every step has its own timeout, and a step that would not fit in what is left of
# OWONNX_CHECK_BUDGET seconds (default 540) is skipped and reported as such.
#
# Phases, most telling first: providers → placement (which provider ran GroupQueryAttention and MatMulNBits) →
# parity against the CPU FP32 run (eval --compare KL/top-1, greedy text) → serving with the KV cache in device
# memory (slot copies) → speed on a TinyLlama-shaped random checkpoint (fp16 and int4, batch 1 and 8; int4 on the
# CPU as the baseline).
#
# Usage: check.sh <parts-folder> [results-folder]
#   OWONNX_CHECK_EP=cpu   dry run without a GPU: the same steps on the CPU provider, a small bench checkpoint
#   OWONNX_CHECK_WORK     scratch folder (default /tmp/owonnx-check)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
parts=$(cd "$1" && pwd)
results=$(mkdir -p "${2:-results}" && cd "${2:-results}" && pwd)
work=${OWONNX_CHECK_WORK:-/tmp/owonnx-check}
ep=${OWONNX_CHECK_EP:-cuda}
budget=${OWONNX_CHECK_BUDGET:-540}
detail="$work/detail"
rm -rf "$work"
mkdir -p "$work" "$detail"
log="$results/check.log"
: >"$log"
echo "$ep" >"$detail/ep.txt"
say() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$log" >&2; }

# step NAME TIMEOUT OUTFILE CMD...: runs CMD under TIMEOUT seconds (stdout to OUTFILE, or the log when OUTFILE is
# -), records its status in steps.jsonl; skipped when the budget has less than TIMEOUT left.
step() {
  local name=$1 limit=$2 outfile=$3; shift 3
  local left=$((budget - SECONDS)) status rc started=$SECONDS
  if [ "$left" -lt "$limit" ]; then
    status=skipped; rc=-1
    say "$name: skipped ($left s left of the budget, needs up to $limit s)"
  else
    say "$name: $*"
    if [ "$outfile" = - ]; then timeout -k 10 "$limit" "$@" >>"$log" 2>&1; else timeout -k 10 "$limit" "$@" >"$outfile" 2>>"$log"; fi
    rc=$?
    case $rc in 0) status=ok ;; 124|137) status=timeout ;; *) status="exit $rc" ;; esac
    say "$name: $status"
  fi
  printf '{"name": "%s", "status": "%s", "seconds": %d}\n' "$name" "$status" $((SECONDS - started)) >>"$detail/steps.jsonl"
  return $((rc == 0 ? 0 : 1))
}
# Helpers next to this script win over the payload's copies (the repo's are the newest).
helper() { if [ -f "$here/$1" ]; then echo "$here/$1"; else echo "$work/$1"; fi; }
summarize() {
  python3 "$(helper summarize.py)" "$detail" "$results" 2>>"$log"
  tar -C "$detail" -cJf "$results/details.tar.xz" . 2>>"$log"
}
trap summarize EXIT

# 1. Reassemble and unpack (the parts travel separately: each transfer is at most 64 MiB with the checkout).
say "reassembling $(ls "$parts"/payload.tar.xz.part-* 2>/dev/null | wc -l) parts from $parts"
(cd "$parts" && sha256sum -c --quiet SHA256SUMS) >>"$log" 2>&1 || { say "checksum mismatch: a part is missing or damaged"; exit 2; }
unxz() { if command -v xz >/dev/null; then xz -d -T0; else python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)"; fi; }
cat "$parts"/payload.tar.xz.part-* | unxz | tar -x -C "$work" || { say "unpack failed"; exit 2; }
cp "$work/fatbin-pruning.json" "$detail/" 2>/dev/null
owonnx="$work/owonnx/owonnx"
models="$work/models"
# The first 32 KB of the sample's held-out text (whole lines): ~30 windows of 256 tokens, thousands of predictions
# for KL and top-1, and an eval of a minute at most even where the CPU reference is slow.
heldout="$work/heldout-32k.txt"
head -c 32768 "$work/owonnx/sample/fortune-llama/heldout.txt" | sed '$d' >"$heldout"

# 2. CUDA 13 libraries from the Python wheels (nvidia-cublas, nvidia-cuda-runtime, nvidia-cudnn-cu13, ...).
wheel_libs=$(python3 - <<'PY'
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "nvidia", "**", "lib*.so*"), recursive=True)})
dirs += sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "tensorrt*", "lib*.so*"))})
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="${wheel_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ORT_DISABLE_TELEMETRY=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
say "library folders from wheels: ${wheel_libs:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv >"$detail/gpu.txt" 2>&1
# Exit 1 here only says some provider of the build cannot start (TensorRT without libnvinfer): the line of $ep decides.
timeout -k 10 60 "$owonnx" providers >"$detail/providers.txt" 2>&1
say "providers: $(tr '\n' ';' <"$detail/providers.txt")"
if ! grep -qE "^$ep +[A-Za-z]+ExecutionProvider +ready$" "$detail/providers.txt"; then
  say "the $ep provider cannot start here; see providers in summary.json"
  exit 3
fi

# 3. The sample, converted here from the checkpoint the payload carries: FP32 for the CPU (the yardstick), fp16 and
# int4 in the form built for CUDA. Every position's logits are kept: eval needs them.
step "convert sample fp32" 120 - "$owonnx" convert --sample --output "$models/fortune-fp32" --precision fp32 --logits all --overwrite
step "convert sample fp16" 120 - "$owonnx" convert --sample --output "$models/fortune-cuda-fp16" --precision fp16 --ep cuda --logits all --overwrite
step "convert sample int4" 120 - "$owonnx" convert --sample --output "$models/fortune-cuda-int4" --precision int4 --ep cuda --logits all --overwrite

# 4. Placement: which provider ran each operator, from ORT's profile of a short generation.
provider_name=$(awk -v ep="$ep" '$1 == ep {print $2}' "$detail/providers.txt")
for m in fortune-cuda-fp16 fortune-cuda-int4; do
  OWONNX_ORT_PROFILE="$work/profile-$m" step "profile $m" 120 - "$owonnx" run "$models/$m" --ep "$ep" --prompt "A fool and his money" --max-new-tokens 8
  python3 "$(helper placement.py)" --provider "$provider_name" "$work/profile-$m"_*.json >"$detail/placement-$m.json" 2>>"$log"
done
summarize

# 5. Parity against the CPU FP32 run of the same sample (eval --compare runs the reference on the CPU).
for m in fortune-fp32 fortune-cuda-fp16 fortune-cuda-int4; do
  step "eval $m" 180 "$detail/eval-$m-$ep.json" "$owonnx" eval "$models/$m" --ep "$ep" --text "$heldout" --window 256 --compare "$models/fortune-fp32" --json
done
step greedy 300 "$detail/greedy.json" python3 - "$owonnx" "$models" "$ep" <<'PY'
import json, subprocess, sys
owonnx, models, ep = sys.argv[1], sys.argv[2], sys.argv[3]
prompts = ["A fool and his money", "Tell me a fortune.", "The best way to", "You will soon"]
def run(model, device):
    try:
        r = subprocess.run([owonnx, "run", f"{models}/{model}", "--prompt", p, "--max-new-tokens", "40", "--ep", device],
                           capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "(timed out)"
    return r.stdout if r.returncode == 0 else f"(exit {r.returncode}) {r.stderr.strip()[-500:]}"
rows = []
for p in prompts:
    cpu32, dev32, dev16 = run("fortune-fp32", "cpu"), run("fortune-fp32", ep), run("fortune-cuda-fp16", ep)
    rows.append({"prompt": p, "cpu_fp32": cpu32, f"{ep}_fp32": dev32, f"{ep}_fp16": dev16,
                 "fp32_identical": cpu32 == dev32 and not cpu32.startswith("("),
                 "fp16_identical_to_cpu_fp32": cpu32 == dev16 and not cpu32.startswith("(")})
json.dump({"rows": rows, "fp32_all_identical": all(r["fp32_identical"] for r in rows)}, sys.stdout, indent=1)
PY
summarize

# 6. Serving with the KV cache in device memory: compaction moves, n choices and prefix reuse copy slots on the device.
for m in fortune-cuda-fp16 fortune-cuda-int4; do
  step "serve $m" 240 "$detail/serve-$m.json" python3 "$(helper serve_check.py)" "$owonnx" "$models/$m" 18181 "$ep"
done
summarize

# 7. Speed on a TinyLlama-shaped random checkpoint, written here (2.2 GB would not fit through the transfer).
# The dry run on a CPU uses a small shape: it checks the steps, not the speed.
if [ "$ep" = cpu ]; then shape=small; bench_args=(--prompt-tokens 16 --gen-tokens 8 --repeat 1); else shape=tinyllama; bench_args=(--prompt-tokens 128 --gen-tokens 64 --repeat 3); fi
step "checkpoint $shape" 180 - python3 "$(helper make_checkpoint.py)" "$work/bench-model" "$shape"
for p in fp16 int4; do
  step "convert bench $p" 240 - "$owonnx" convert "$work/bench-model" --output "$work/bench-$p" --precision "$p" --ep cuda --overwrite
  step "bench $p $ep" 150 - "$owonnx" bench "$work/bench-$p" --ep "$ep" "${bench_args[@]}" --json --output "$detail/bench-$p-$ep.json"
  step "bench $p $ep batch 8" 150 - "$owonnx" bench "$work/bench-$p" --ep "$ep" "${bench_args[@]}" --batch 8 --json --output "$detail/bench-$p-$ep-b8.json"
  summarize
done
if [ "$ep" != cpu ]; then
  step "convert bench int4 cpu form" 240 - "$owonnx" convert "$work/bench-model" --output "$work/bench-int4-cpu" --precision int4 --overwrite
  step "bench int4 cpu" 120 - "$owonnx" bench "$work/bench-int4-cpu" --prompt-tokens 128 --gen-tokens 32 --repeat 1 --json --output "$detail/bench-int4-cpu.json"
fi
say "done in ${SECONDS}s: $results/summary.md"

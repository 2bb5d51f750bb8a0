#!/usr/bin/env bash
# The device check, run ON the NVIDIA machine (x86-64, CUDA 13 user-space libraries as Python wheels; no .NET,
# no NuGet, no network needed). Input: the parts pack.sh made (payload.tar.xz.part-* + SHA256SUMS) in one
# folder. Output: JSON files in the results folder (each small):
#   providers.txt          owonnx providers (which providers start here, or which library is missing)
#   placement-*.json       operator types per provider from ORT's profile; ok=false if GQA/MatMulNBits ran on CPU
#   eval-*.json            eval --compare against the CPU FP32 run of the sample: perplexity, KL, top-1
#   greedy.json            greedy texts on the sample, CUDA vs CPU, and whether they are identical
#   serve-*.json           serve --ep cuda: slot copies in device memory (compaction, n choices, prefix cache) by their answers
#   bench-*.json           owonnx bench on a TinyLlama-shaped random checkpoint (fp16 and int4 on CUDA; int4 on CPU as baseline)
#   summary.json           the above in one file
# Usage: check.sh <parts-folder> [results-folder]
set -uo pipefail
parts=$(cd "$1" && pwd)
results=$(mkdir -p "${2:-results}" && cd "${2:-results}" && pwd)
work=${OWONNX_CHECK_WORK:-/tmp/owonnx-check}
mkdir -p "$work"
log() { echo "[$(date +%T)] $*" | tee -a "$results/check.log" >&2; }
step() { local name=$1; shift; log "$name: $*"; "$@" >>"$results/check.log" 2>&1; local rc=$?; log "$name: exit $rc"; return $rc; }

# 1. Reassemble and unpack (the parts travel separately: each transfer is at most 64 MiB).
log "reassembling $(ls "$parts"/payload.tar.xz.part-* | wc -l) parts"
(cd "$parts" && sha256sum -c --quiet SHA256SUMS) || { log "checksum mismatch: a part is missing or damaged"; exit 2; }
unxz() { if command -v xz >/dev/null; then xz -d -T0; else python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer)"; fi; }
cat "$parts"/payload.tar.xz.part-* | unxz | tar -x -C "$work" || { log "unpack failed"; exit 2; }
owonnx="$work/owonnx/owonnx"
models="$work/models"
heldout="$work/owonnx/sample/fortune-llama/heldout.txt"
# The sample, converted here from the checkpoint the binary carries: FP32 for the CPU (the yardstick), fp16
# and int4 built for CUDA. Every position's logits are kept: eval needs them.
step "convert sample fp32" "$owonnx" convert --sample --output "$models/fortune-fp32" --precision fp32 --logits all --overwrite
step "convert sample fp16" "$owonnx" convert --sample --output "$models/fortune-cuda-fp16" --precision fp16 --ep cuda --logits all --overwrite
step "convert sample int4" "$owonnx" convert --sample --output "$models/fortune-cuda-int4" --precision int4 --ep cuda --logits all --overwrite

# 2. CUDA 13 libraries from the Python wheels (nvidia-cublas, nvidia-cuda-runtime, nvidia-cudnn-cu13, ...).
wheel_libs=$(python3 - <<'PY'
import glob, os, site, sys
roots = site.getsitepackages() + [site.getusersitepackages()]
dirs = sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "nvidia", "**", "lib*.so*"), recursive=True)})
dirs += sorted({os.path.dirname(p) for r in roots for p in glob.glob(os.path.join(r, "tensorrt*", "lib*.so*"))})
print(":".join(dirs))
PY
)
export LD_LIBRARY_PATH="${wheel_libs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ORT_DISABLE_TELEMETRY=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
log "library folders from wheels: ${wheel_libs:-none}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$results/gpu.txt" 2>&1
"$owonnx" providers >"$results/providers.txt" 2>&1
log "providers: $(tr '\n' ' ' <"$results/providers.txt")"
grep -q "^cuda .*ready" "$results/providers.txt" || { log "CUDA provider cannot start here; see providers.txt"; exit 3; }

# 3. Placement: which provider ran each operator, from ORT's profile of a short generation.
for m in fortune-cuda-fp16 fortune-cuda-int4; do
  rm -f "$work/profile-$m"_*.json
  OWONNX_ORT_PROFILE="$work/profile-$m" step "profile $m" "$owonnx" run "$models/$m" --ep cuda --prompt "A fool and his money" --max-new-tokens 8
  python3 "$work/placement.py" "$work/profile-$m"_*.json >"$results/placement-$m.json"
  log "placement $m: exit $? (1 = GQA or MatMulNBits on the CPU)"
done

# 4. Parity against the CPU FP32 run of the same sample (eval --compare runs the reference on the CPU).
for m in fortune-fp32 fortune-cuda-fp16 fortune-cuda-int4; do
  step "eval $m" "$owonnx" eval "$models/$m" --ep cuda --text "$heldout" --window 256 --compare "$models/fortune-fp32" --json
  "$owonnx" eval "$models/$m" --ep cuda --text "$heldout" --window 256 --compare "$models/fortune-fp32" --json >"$results/eval-$m-cuda.json" 2>>"$results/check.log"
done
python3 - "$owonnx" "$models" >"$results/greedy.json" 2>>"$results/check.log" <<'PY'
import json, subprocess, sys
owonnx, models = sys.argv[1], sys.argv[2]
prompts = ["A fool and his money", "Tell me a fortune.", "The best way to", "You will soon"]
def run(model, ep):
    r = subprocess.run([owonnx, "run", f"{models}/{model}", "--prompt", p, "--max-new-tokens", "40", "--ep", ep], capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else f"(exit {r.returncode}) {r.stderr.strip()}"
rows = []
for p in prompts:
    cpu32, cuda32, cuda16 = run("fortune-fp32", "cpu"), run("fortune-fp32", "cuda"), run("fortune-cuda-fp16", "cuda")
    rows.append({"prompt": p, "cpu_fp32": cpu32, "cuda_fp32": cuda32, "cuda_fp16": cuda16,
                 "fp32_identical": cpu32 == cuda32, "fp16_identical_to_cpu_fp32": cpu32 == cuda16})
json.dump({"rows": rows, "fp32_all_identical": all(r["fp32_identical"] for r in rows)}, sys.stdout, indent=1)
PY
log "greedy: $(python3 -c "import json;print(json.load(open('$results/greedy.json'))['fp32_all_identical'])")"

# 4b. Serving with the KV cache in device memory: compaction moves, n choices and prefix reuse copy slots on the GPU.
for m in fortune-cuda-fp16 fortune-cuda-int4; do
  python3 "$work/serve_check.py" "$owonnx" "$models/$m" 18181 >"$results/serve-$m.json" 2>>"$results/check.log"
  log "serve $m: ok=$(python3 -c "import json;print(json.load(open('$results/serve-$m.json'))['ok'])" 2>/dev/null)"
done

# 5. Speed on a TinyLlama-shaped random checkpoint (written here: 2.2 GB would not fit through the transfer).
step "checkpoint" python3 "$work/make_checkpoint.py" "$work/tinyllama"
for p in fp16 int4; do
  step "convert $p" "$owonnx" convert "$work/tinyllama" --output "$work/tinyllama-$p" --precision "$p" --ep cuda --overwrite
  step "bench $p cuda" "$owonnx" bench "$work/tinyllama-$p" --ep cuda --prompt-tokens 128 --gen-tokens 64 --repeat 3 --json --output "$results/bench-$p-cuda.json"
  step "bench $p cuda batch 8" "$owonnx" bench "$work/tinyllama-$p" --ep cuda --prompt-tokens 128 --gen-tokens 64 --batch 8 --repeat 3 --json --output "$results/bench-$p-cuda-b8.json"
done
step "convert int4 cpu" "$owonnx" convert "$work/tinyllama" --output "$work/tinyllama-int4-cpu" --precision int4 --overwrite
step "bench int4 cpu" "$owonnx" bench "$work/tinyllama-int4-cpu" --prompt-tokens 128 --gen-tokens 32 --repeat 1 --json --output "$results/bench-int4-cpu.json"

# 6. One summary.
python3 - "$results" >"$results/summary.json" <<'PY'
import glob, json, os, sys
out = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    name = os.path.basename(path)[:-5]
    if name == "summary":
        continue
    try:
        out[name] = json.load(open(path))
    except Exception as e:
        out[name] = {"error": f"unreadable: {e}"}
out["gpu"] = open(os.path.join(sys.argv[1], "gpu.txt")).read()
out["providers"] = open(os.path.join(sys.argv[1], "providers.txt")).read()
json.dump(out, sys.stdout, indent=1)
PY
log "done: $results/summary.json"

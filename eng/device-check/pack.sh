#!/usr/bin/env bash
# Builds the device check's payload on a machine WITH the .NET 10 SDK and NuGet (the NVIDIA machine has neither):
# the GPU flavour of owonnx published self-contained for linux-x64 (runtime, ONNX Runtime with the CUDA and TensorRT
# providers, onnxruntime-genai's native library, the sample checkpoint) and the check's scripts, compressed with xz
# and split into parts that each fit one transfer, with a checksum file.
#
# Sizes (ORT 1.31.0): the CUDA provider library is 284 MB, 209 MB of it kernels for sm_75/80/86/89/90/120.
# prune_fatbin.py zeroes every generation's kernels but the target's (KEEP_SM, default 90 = H100/H200), which
# takes the compressed library from ~175 MB to ~52 MB. The publish is not single-file: xz packs the plain
# assemblies to a third of the single-file bundle's size (34 MB vs 53 MB).
#
# A device call carries the whole checkout's tracked files (~33 MiB) and at most 64 MiB in all, so a part is what
# is left (~29 MiB; PART_SIZE overrides). README "Device check" says how to stage the parts.
# Usage: pack.sh [output-folder]        (default artifacts/device-check)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$repo/artifacts/device-check}" && cd "${1:-$repo/artifacts/device-check}" && pwd)
# A device call carries this checkout's tracked files and at most 64 MiB in all: a part takes what is left, less
# 2 MiB for the checksum file, check.sh and the tree growing before the call.
tracked=$(git -C "$repo" ls-files -z | (cd "$repo" && xargs -0 stat -c %s 2>/dev/null) | awk '{s += $1} END {print s + 0}')
part_size=${PART_SIZE:-$(( (64 - 2) * 1024 * 1024 - tracked ))}
if [ "$part_size" -lt $((8 * 1024 * 1024)) ] 2>/dev/null; then
  echo "pack.sh: the checkout's tracked files take $((tracked / 1048576)) MiB of the 64 MiB a device call carries; set PART_SIZE" >&2
  exit 1
fi
keep_sm=${KEEP_SM:-90}
stage="$out/stage"
rm -rf "$stage" "$out/parts"
mkdir -p "$stage" "$out/parts"

dotnet publish "$repo/src/owonnx/owonnx.csproj" -c Release -r linux-x64 --self-contained \
  -p:OwonnxGpu=true -p:PublishSingleFile=false -p:DebugType=none -p:SatelliteResourceLanguages=en \
  --artifacts-path "$out/build" -o "$stage/owonnx"
app="$stage/owonnx"
# Windows native DLLs that the packages' build props copy everywhere. Managed assemblies are *.dll too and stay:
# a PE file is managed when its CLI header (data directory 14) is set.
python3 - "$app" <<'PY'
import glob, os, struct, sys
for path in glob.glob(os.path.join(sys.argv[1], "*.dll")):
    with open(path, "rb") as f:
        data = f.read(4096)
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    magic = struct.unpack_from("<H", data, pe + 24)[0]
    directories = pe + 24 + (96 if magic == 0x10B else 112)
    cli_header = struct.unpack_from("<I", data, directories + 14 * 8)[0]
    if cli_header == 0:
        os.remove(path)
PY
rm -f "$app/"*.pdb

# One GPU generation's kernels (the layout is checked by the script, which writes nothing if it does not understand it).
cuda_lib="$app/libonnxruntime_providers_cuda.so"
if [ "$keep_sm" != all ]; then
  keep_args=()
  for sm in ${keep_sm//,/ }; do keep_args+=(--keep "$sm"); done
  python3 "$here/prune_fatbin.py" "$cuda_lib" "$cuda_lib.pruned" "${keep_args[@]}" >"$stage/fatbin-pruning.json"
  mv "$cuda_lib.pruned" "$cuda_lib"
  chmod +x "$cuda_lib"
fi

# The converted samples are not sent: the payload carries the sample checkpoint and check.sh converts it there
# (seconds). Converting here once proves the published binary runs.
"$app/owonnx" convert --sample --output "$out/probe-fp32" --precision fp32 --overwrite >/dev/null
cp "$here/check.sh" "$here/summarize.py" "$here/make_checkpoint.py" "$here/placement.py" "$here/serve_check.py" "$stage/"

tar -C "$stage" -cf - . | xz -9 -T0 >"$out/payload.tar.xz"
# Once here an xz run ended with an empty stream and no error; a payload that does not list its files is refused.
if ! xz -l "$out/payload.tar.xz" >/dev/null 2>&1 || [ "$(stat -c %s "$out/payload.tar.xz")" -lt $((1024 * 1024)) ]; then
  echo "pack.sh: $out/payload.tar.xz is not a complete xz stream ($(stat -c %s "$out/payload.tar.xz") bytes); run pack.sh again" >&2
  exit 1
fi
split -b "$part_size" -d -a 2 "$out/payload.tar.xz" "$out/parts/payload.tar.xz.part-"
(cd "$out/parts" && sha256sum payload.tar.xz.part-* >SHA256SUMS)
# For a person who has only the parts folder (check.sh finds its helpers in the payload when none lie beside it).
cp "$here/check.sh" "$out/parts/"
rm "$out/payload.tar.xz"
echo "staged: $(du -sh "$stage" | cut -f1)   parts:" >&2
ls -l "$out/parts" >&2

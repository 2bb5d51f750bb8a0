#!/usr/bin/env bash
# Builds the device check's payload on a machine WITH the .NET 10 SDK and NuGet (the NVIDIA machine has
# neither): the GPU flavour of owonnx published self-contained for linux-x64 (runtime, ONNX Runtime with the
# CUDA and TensorRT providers, the sample checkpoint) and the scripts. It is compressed with xz and split into parts that each fit one transfer
# (at most 64 MiB reach the machine at a time), with a checksum file.
# Usage: pack.sh [output-folder]        (default artifacts/device-check)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$repo/artifacts/device-check}" && cd "${1:-$repo/artifacts/device-check}" && pwd)
part_size=${PART_SIZE:-60M}
stage="$out/stage"
rm -rf "$stage" "$out/parts"
mkdir -p "$stage" "$out/parts"

dotnet publish "$repo/src/owonnx/owonnx.csproj" -c Release -r linux-x64 --self-contained \
  -p:OwonnxGpu=true -p:PublishSingleFile=true -p:IncludeNativeLibrariesForSelfExtract=false \
  -p:EnableCompressionInSingleFile=true -p:DebugType=none \
  --artifacts-path "$out/build" -o "$stage/owonnx"
# Windows DLLs that the packages' build props copy everywhere, and onnxruntime-genai's native library
# (the owonnx runtime does not load it; only interop tests do) — 34 MB that need not travel.
rm -f "$stage/owonnx/"*.dll "$stage/owonnx/libonnxruntime-genai.so"

# The converted samples are not sent: the binary carries the sample checkpoint and check.sh converts it there
# (seconds), which keeps ~35 MB out of the transfer. Converting here once proves the binary runs.
"$stage/owonnx/owonnx" convert --sample --output "$out/probe-fp32" --precision fp32 --overwrite
cp "$here/check.sh" "$here/make_checkpoint.py" "$here/placement.py" "$here/serve_check.py" "$stage/"

tar -C "$stage" -cf - . | xz -9 -T0 >"$out/payload.tar.xz"
split -b "$part_size" -d -a 2 "$out/payload.tar.xz" "$out/parts/payload.tar.xz.part-"
(cd "$out/parts" && sha256sum payload.tar.xz.part-* >SHA256SUMS)
cp "$here/check.sh" "$out/parts/"
rm "$out/payload.tar.xz"
echo "staged: $(du -sh "$stage" | cut -f1)   parts:" >&2
ls -l "$out/parts" >&2

#!/usr/bin/env python3
"""Shrinks what ONNX Runtime's CUDA provider library costs to send, for one GPU generation.

libonnxruntime_providers_cuda.so (1.31.0, 284 MB) is mostly its `.nv_fatbin` section (209 MB): every kernel as
machine code (SASS) for sm_75, 80, 86, 89, 90 and 120, and no PTX. SASS runs only on its own major architecture
(sm_80 code does not run on sm_90), so on one GPU all other entries are dead weight. This script zeroes the
payload of every SASS entry whose architecture is not kept, leaving every header, offset and size as it was:
the file keeps its layout and the CUDA driver, which picks an entry by the architecture in its header, never
reads the zeroed ones. Zeroes compress to nothing, so the library's compressed size drops by about two thirds.

The fatbin layout walked here (read from the file, checked by the walk itself ending exactly at each
container's end): containers of {u32 magic 0xBA55ED50, u16 version, u16 header size, u64 payload size},
8-byte aligned, each holding entries of {u16 kind (1 PTX, 2 SASS/ELF), u16, u32 header size, u64 payload size,
u32, u32, u16 minor, u16 major, u32 architecture (e.g. 90), ...} followed by the payload.

Usage: prune_fatbin.py IN.so OUT.so --keep 90 [--keep 100 ...]     (prints a JSON summary; exit 1, writing
nothing, if the layout is not what this script understands).
"""
import argparse
import json
import struct
import sys

MAGIC = 0xBA55ED50
KIND_PTX, KIND_ELF = 1, 2


def section(data, wanted):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a little-endian ELF64 file")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def header(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)

    names = header(shstrndx)[4]
    for i in range(shnum):
        h = header(i)
        start = names + h[0]
        if data[start:data.index(b"\0", start)].decode() == wanted:
            return h[4], h[5]
    raise ValueError(f"no {wanted} section")


def prune(data, keep):
    offset, size = section(data, ".nv_fatbin")
    end = offset + size
    zeroed, kept, containers, orphans = {}, {}, 0, 0
    p = offset
    while p < end:
        magic, _version, header_size, payload = struct.unpack_from("<IHHQ", data, p)
        if magic != MAGIC:
            if any(data[p:p + 8]):
                raise ValueError(f"unexpected bytes between fatbin containers at file offset {p:#x}")
            p += 8
            continue
        containers += 1
        q, container_end = p + header_size, p + header_size + payload
        runnable = False
        while q < container_end:
            kind, _, entry_header, entry_size = struct.unpack_from("<HHIQ", data, q)
            arch = struct.unpack_from("<I", data, q + 28)[0]
            if kind not in (KIND_PTX, KIND_ELF) or entry_header < 32:
                raise ValueError(f"unknown fatbin entry (kind {kind}, header {entry_header}) at {q:#x}")
            body = q + entry_header
            if kind == KIND_ELF and arch not in keep:
                data[body:body + entry_size] = bytes(entry_size)
                zeroed[arch] = zeroed.get(arch, 0) + entry_size
            else:
                # PTX is kept whatever its target: the driver may compile it for a newer GPU.
                runnable = True
                key = f"{'ptx' if kind == KIND_PTX else 'sm'}_{arch}"
                kept[key] = kept.get(key, 0) + entry_size
            q = body + entry_size
        if q != container_end:
            raise ValueError(f"fatbin container at {p:#x} does not end where its header says")
        orphans += not runnable
        p = container_end
    return {"containers": containers, "containers_without_kept_code": orphans,
            "zeroed_bytes_by_arch": {f"sm_{a}": n for a, n in sorted(zeroed.items())},
            "kept_bytes": dict(sorted(kept.items()))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--keep", type=int, action="append", required=True,
                        help="SASS architecture to keep, e.g. 90 for Hopper (H100/H200)")
    args = parser.parse_args()
    data = bytearray(open(args.input, "rb").read())
    try:
        summary = prune(data, set(args.keep))
    except ValueError as e:
        print(f"prune_fatbin: {args.input}: {e}; leaving it unpruned", file=sys.stderr)
        return 1
    summary["kept_architectures"] = sorted(args.keep)
    json.dump(summary, sys.stdout, indent=1)
    print()
    # Containers that have no code for the kept architectures could not run on that GPU before pruning either
    # (ORT 1.31: 9 sm_120-only containers); report them, they are not an error.
    with open(args.output, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())

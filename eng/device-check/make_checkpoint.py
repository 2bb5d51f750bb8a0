#!/usr/bin/env python3
"""Writes a TinyLlama-shaped Llama checkpoint with random BF16 weights (no download, stdlib only).
Usage: make_checkpoint.py FOLDER [tinyllama|small]

Shape: hidden 2048, 22 layers, 32 heads / 4 KV heads, MLP 5632, vocabulary 32000 (TinyLlama-1.1B's), so that
speed measured on it is the speed of that model; the weights are noise, the numbers mean nothing else.
The layout is the one tests/OpenWeights.Onnx.Benchmarks/SyntheticCheckpoint.cs writes.
"""
import json, math, os, random, struct, sys

HIDDEN, LAYERS, HEADS, KV_HEADS, MLP, VOCAB = 2048, 22, 32, 4, 5632, 32000
# "small": the same layout at a size a CPU converts in seconds (check.sh's dry run checks its steps, not speed).
SHAPES = {"tinyllama": (2048, 22, 32, 4, 5632, 32000), "small": (256, 2, 8, 2, 512, 32000)}


def tensors():
    head = HIDDEN // HEADS
    yield "model.embed_tokens.weight", (VOCAB, HIDDEN)
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        yield f"{p}.input_layernorm.weight", (HIDDEN,)
        yield f"{p}.self_attn.q_proj.weight", (HEADS * head, HIDDEN)
        yield f"{p}.self_attn.k_proj.weight", (KV_HEADS * head, HIDDEN)
        yield f"{p}.self_attn.v_proj.weight", (KV_HEADS * head, HIDDEN)
        yield f"{p}.self_attn.o_proj.weight", (HIDDEN, HEADS * head)
        yield f"{p}.post_attention_layernorm.weight", (HIDDEN,)
        yield f"{p}.mlp.gate_proj.weight", (MLP, HIDDEN)
        yield f"{p}.mlp.up_proj.weight", (MLP, HIDDEN)
        yield f"{p}.mlp.down_proj.weight", (HIDDEN, MLP)
    yield "model.norm.weight", (HIDDEN,)
    yield "lm_head.weight", (VOCAB, HIDDEN)


def noise_block(count, seed=42):
    """count BF16 values of random sign and magnitude 2^-9..2^-4 (a trained matrix's scale), little-endian."""
    raw = bytearray(random.Random(seed).randbytes(2 * count))
    # High byte: sign and the exponent's top 7 bits, 59..61 (exponents 118..123); low byte: exponent bit and mantissa.
    table = bytes((b & 0x80) | (59 + b % 3) for b in range(256))
    raw[1::2] = bytes(raw[1::2]).translate(table)
    return bytes(raw)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    header, offset, shapes = {}, 0, list(tensors())
    for name, shape in shapes:
        size = math.prod(shape) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    # One block of noise, reused: generating 1.1 G values would dominate.
    noise = noise_block(1 << 22)
    ones = b"\x80\x3f" * HIDDEN  # BF16 1.0
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape in shapes:
            if name.endswith("norm.weight"):
                f.write(ones)
                continue
            remaining = math.prod(shape)
            while remaining > 0:
                n = min(remaining, len(noise) // 2)
                f.write(noise[:2 * n])
                remaining -= n
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": HIDDEN,
        "intermediate_size": MLP, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "vocab_size": VOCAB, "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16",
    }
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        HIDDEN, LAYERS, HEADS, KV_HEADS, MLP, VOCAB = SHAPES[sys.argv[2]]
    main(sys.argv[1] if len(sys.argv) > 1 else "tinyllama-random")

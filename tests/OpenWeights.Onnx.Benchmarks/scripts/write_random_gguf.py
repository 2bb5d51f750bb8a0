"""Writes a llama-architecture GGUF with random weights for llama-bench (speed only: values are noise).

usage: write_random_gguf.py <gguf-py dir> <out.gguf> <q4_0|q8_0|f16> hidden intermediate layers heads kv_heads vocab

Quantized blocks are random bytes with a small fixed scale, so no quantizer runs; norms are float32 ones.
The output (LM head) is Q8_0 in the q4_0 file, as owonnx's INT4 default keeps an 8-bit head.
"""
import sys
import numpy as np

sys.path.insert(0, sys.argv[1])
import gguf  # noqa: E402

out, kind = sys.argv[2], sys.argv[3]
hidden, inter, layers, heads, kv_heads, vocab = map(int, sys.argv[4:10])
Q = gguf.GGMLQuantizationType
rng = np.random.default_rng(42)
BLOCK = {Q.Q4_0: (32, 18), Q.Q8_0: (32, 34)}


def matrix(rows, cols, qtype):
    if qtype == Q.F16:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16), None
    per, size = BLOCK[qtype]
    blocks = rng.integers(0, 256, size=(rows * cols // per, size), dtype=np.uint8)
    blocks[:, 0:2] = np.frombuffer(np.float16(0.002).tobytes(), dtype=np.uint8)
    return blocks.reshape(rows, cols // per * size), qtype


body = {"q4_0": Q.Q4_0, "q8_0": Q.Q8_0, "f16": Q.F16}[kind]
head = Q.Q8_0 if body == Q.Q4_0 else body
w = gguf.GGUFWriter(out, "llama")
w.add_context_length(2048)
w.add_embedding_length(hidden)
w.add_block_count(layers)
w.add_feed_forward_length(inter)
w.add_head_count(heads)
w.add_head_count_kv(kv_heads)
w.add_rope_dimension_count(hidden // heads)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type({Q.Q4_0: 2, Q.Q8_0: 7, Q.F16: 1}[body])
tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
tokens += [f"t{i}" for i in range(len(tokens), vocab)]
types = [2, 3, 3] + [6] * 256 + [1] * (vocab - 259)
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores([0.0] * vocab)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)


def add(name, array_and_type):
    array, qtype = array_and_type
    w.add_tensor(name, array, raw_dtype=qtype)


ones = lambda n: (np.ones(n, dtype=np.float32), None)  # noqa: E731
add("token_embd.weight", matrix(vocab, hidden, body))
head_dim = hidden // heads
for i in range(layers):
    p = f"blk.{i}."
    add(p + "attn_norm.weight", ones(hidden))
    add(p + "attn_q.weight", matrix(heads * head_dim, hidden, body))
    add(p + "attn_k.weight", matrix(kv_heads * head_dim, hidden, body))
    add(p + "attn_v.weight", matrix(kv_heads * head_dim, hidden, body))
    add(p + "attn_output.weight", matrix(hidden, heads * head_dim, body))
    add(p + "ffn_norm.weight", ones(hidden))
    add(p + "ffn_gate.weight", matrix(inter, hidden, body))
    add(p + "ffn_up.weight", matrix(inter, hidden, body))
    add(p + "ffn_down.weight", matrix(hidden, inter, body))
add("output_norm.weight", ones(hidden))
add("output.weight", matrix(vocab, hidden, head))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

"""Builds small SentencePiece-style BPE tokenizers (tokenizer.json in the layouts Hugging Face's converters write for
Llama 2, for Llama/Mistral with legacy=False, and for Gemma) so that the SentencePiece path can be tested against
Hugging Face's own tokenizers library without shipping a real model's vocabulary.

The vocabulary is learnt by plain BPE on the fortune-llama held-out text plus the Qwen3 reference strings; it is laid
out as SentencePiece writes it (<unk>, <s>, </s>, the 256 <0xNN> byte pieces, merged pieces by score, then single
characters), and the merges are derived from the vocabulary as transformers' SentencePieceExtractor does (every split
of every piece into two pieces, in piece order). Then run make-sp-bpe-reference.js for the reference ids.

Usage: python3 make_vocab.py SHARED_DIR OUT_DIR
"""
import collections, json, os, sys

shared, out = sys.argv[1], sys.argv[2]
lines = open(os.path.join(shared, "models/fortune-llama/heldout.txt"), encoding="utf-8").read().split("\n")
qwen = json.load(open(os.path.join(shared, "fixtures/tokenizers/qwen3/reference.json"), encoding="utf-8"))["cases"]
corpus = [l for l in lines if l.strip()] + [c["text"] for c in qwen]

words = collections.Counter()
for line in corpus:
    for w in ("▁" + line.replace(" ", "▁")).split("▁"):
        words["▁" + w] += 1
chars = collections.Counter()
for w, n in words.items():
    for ch in w:
        chars[ch] += n
alphabet = {ch for ch, n in chars.items() if n >= 4}

seqs = {w: [ch for ch in w] for w in words}
merged = []
for _ in range(1400):
    pairs = collections.Counter()
    for w, n in words.items():
        s = seqs[w]
        for a, b in zip(s, s[1:]):
            if a in alphabet or len(a) > 1:
                if b in alphabet or len(b) > 1:
                    pairs[(a, b)] += n
    if not pairs:
        break
    (a, b), n = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
    if n < 2:
        break
    new = a + b
    merged.append(new)
    for w in words:
        s = seqs[w]
        i, r = 0, []
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                r.append(new); i += 2
            else:
                r.append(s[i]); i += 1
        seqs[w] = r

vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    vocab["<0x%02X>" % b] = len(vocab)
for p in merged:
    if p not in vocab:
        vocab[p] = len(vocab)
for ch in sorted(alphabet, key=lambda c: (-chars[c], c)):
    if ch not in vocab:
        vocab[ch] = len(vocab)

merges = []
for piece, pid in sorted(vocab.items(), key=lambda kv: kv[1]):
    local = [(piece[:i], piece[i:]) for i in range(1, len(piece)) if piece[:i] in vocab and piece[i:] in vocab]
    merges += sorted(local, key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))

n = len(vocab)
added = [
    {"id": 0, "content": "<unk>", "special": True},
    {"id": 1, "content": "<s>", "special": True},
    {"id": 2, "content": "</s>", "special": True},
    {"id": n, "content": "<start_of_turn>", "special": True},
    {"id": n + 1, "content": "<end_of_turn>", "special": True},
    {"id": n + 2, "content": "<tool>", "special": False},
]
for a in added:
    a.update({"single_word": False, "lstrip": False, "rstrip": False, "normalized": False})
model = {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
         "vocab": vocab, "merges": [[l, r] for l, r in merges]}
template = {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
replace_decoders = [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                    {"type": "ByteFallback"}, {"type": "Fuse"}]
variants = {
    # Llama 2 / Mistral v0.1 (transformers' LlamaConverter, legacy=True)
    "llama2": {"normalizer": {"type": "Sequence", "normalizers": [
                   {"type": "Prepend", "prepend": "▁"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
               "pre_tokenizer": None,
               "decoder": {"type": "Sequence", "decoders": replace_decoders + [
                   {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}},
    # Llama / Mistral converted with legacy=False
    "metaspace": {"normalizer": None,
                  "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
                  "decoder": {"type": "Sequence", "decoders": replace_decoders + [
                      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}},
    # Gemma (GemmaConverter): no dummy prefix
    "gemma": {"normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
              "pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": False},
              "decoder": {"type": "Sequence", "decoders": replace_decoders}},
}
for name, parts in variants.items():
    os.makedirs(os.path.join(out, name), exist_ok=True)
    tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": parts["normalizer"], "pre_tokenizer": parts["pre_tokenizer"], "post_processor": template,
           "decoder": parts["decoder"], "model": model}
    json.dump(tok, open(os.path.join(out, name, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
    config = {"tokenizer_class": "GemmaTokenizer" if name == "gemma" else "LlamaTokenizer",
              "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>", "eos_token": "</s>",
              "unk_token": "<unk>", "pad_token": None, "legacy": name == "llama2",
              "chat_template": "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"}
    json.dump(config, open(os.path.join(out, name, "tokenizer_config.json"), "w", encoding="utf-8"), indent=1)
print(len(vocab), "pieces,", len(merges), "merges")

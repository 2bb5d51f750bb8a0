// Regenerates hf-unicode-probe.json: Hugging Face's ids for every string of strings.json with the Qwen3 and
// fortune-llama tokenizers. Needs the npm package `tokenizers` (Hugging Face's Rust core): `npm install tokenizers@0.23.2`.
// Usage: node make-hf-unicode-probe.js strings.json SHARED_DIR > hf-unicode-probe.json
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');
(async () => {
  const strings = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const shared = process.argv[3];
  const out = { library: 'tokenizers (npm, Hugging Face Rust core) ' + require('tokenizers/package.json').version, tokenizers: {} };
  for (const [name, file] of [['qwen3', 'fixtures/tokenizers/qwen3/tokenizer.json'], ['fortune-llama', 'models/fortune-llama/tokenizer.json']]) {
    const tok = Tokenizer.fromFile(path.join(shared, file));
    const cases = [];
    for (const s of strings) {
      const ids = Array.from((await tok.encode(s, null, { addSpecialTokens: false })).getIds());
      cases.push({ text: s, ids, decoded: await tok.decode(ids, false) });
    }
    out.tokenizers[name] = cases;
  }
  process.stdout.write(JSON.stringify(out));
})();

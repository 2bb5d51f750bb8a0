// Writes reference.json: Hugging Face's ids and decoded text for each variant's tokenizer.json (see make_vocab.py)
// on the Qwen3 reference strings, the first 150 fortune-llama held-out lines and a few edge cases.
// Needs the npm package `tokenizers` (Hugging Face's Rust core): `npm install tokenizers@0.23.2`.
// Usage: node make-sp-bpe-reference.js SHARED_DIR > reference.json   (run in this folder)
const { Tokenizer } = require('tokenizers');
const fs = require('fs');
const path = require('path');
(async () => {
  const shared = process.argv[2];
  const qwen = JSON.parse(fs.readFileSync(path.join(shared, 'fixtures/tokenizers/qwen3/reference.json'), 'utf8')).cases.map(c => c.text);
  const heldout = fs.readFileSync(path.join(shared, 'models/fortune-llama/heldout.txt'), 'utf8').split('\n').filter(l => l.trim()).slice(0, 150);
  const edge = ['', ' ', '  ', 'a', ' a', '  two  spaces  ', '\n', 'line\nbreak', '\ttab', '<s>Hello', 'Hi <s> there</s>',
    '<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n', '<tool>call</tool>', 'x<tool>', '<0x41> literal',
    'Ünïcödé ça va? 中文 😀 👩‍👩‍👧‍👦', '▁already▁escaped', 'end. '];
  const strings = [...new Set([...qwen, ...heldout, ...edge])];
  const out = { library: 'tokenizers (npm, Hugging Face Rust core) ' + require('tokenizers/package.json').version, variants: {} };
  for (const variant of ['llama2', 'metaspace', 'gemma']) {
    const tok = Tokenizer.fromFile(path.join(variant, 'tokenizer.json'));
    const cases = [];
    for (const s of strings) {
      const ids = Array.from((await tok.encode(s, null, { addSpecialTokens: false })).getIds());
      const withSpecial = Array.from((await tok.encode(s, null, { addSpecialTokens: true })).getIds());
      cases.push({ text: s, ids, ids_with_special_tokens: withSpecial,
                   decoded: await tok.decode(withSpecial, false), decoded_skip_special: await tok.decode(withSpecial, true) });
    }
    out.variants[variant] = cases;
  }
  process.stdout.write(JSON.stringify(out));
})();

// Differential check of frugal's tokenizers against JavaScript references on
// arbitrary texts (a development tool; the fixture tests are the real check):
//   DeepSeek-V3: @lenml/tokenizers (the JS port of HF tokenizers). Texts with
//     U+0085 or U+FEFF are skipped: the port's RegExp \s is wrong on them.
//   Kimi-K2:     npm tiktoken (tiktoken's Rust core as WASM) with pattern.txt
//     and the 256 special tokens, as tokenization_kimi.py builds it (texts
//     shorter than its 25,000-character run limit).
// Usage: node bench/tokenizer_diff.mjs FRUGAL FIXTURES_DIR TEXTS.jsonl
// (npm install --prefix bench @lenml/tokenizers@3.7.2 tiktoken@1.0.22 first)
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Tiktoken } from "tiktoken/lite";

const [frugal, fixtures, textsPath] = process.argv.slice(2);
const texts = readFileSync(textsPath, "utf8").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));

function frugalIds(dir, items, opts) {
  const input = items.map((c) => Buffer.from(c.text, "utf8").toString("hex")).join("\n") + "\n";
  const r = spawnSync(frugal, ["tokenize", "-m", dir, "--hex", ...opts], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout.toString().split("\n").slice(0, items.length).map((l) => (l ? l.split(" ").map(Number) : []));
}

function compare(name, items, ref, got) {
  let bad = 0;
  items.forEach((c, i) => {
    const a = ref[i], b = got[i];
    if (a.length !== b.length || a.some((x, k) => x !== b[k])) {
      if (++bad <= 5) console.log(`MISMATCH ${name} ${c.id} ${JSON.stringify(c.text)}\n  ref ${a.join(" ")}\n  got ${b.join(" ")}`);
    }
  });
  console.log(`${name}: ${items.length - bad} agree, ${bad} differ`);
  return bad;
}

let bad = 0;
{
  const dir = join(fixtures, "deepseek_v3");
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
  });
  const items = texts.filter((c) => !/[\u0085\ufeff]/.test(c.text));
  const ref = items.map((c) => Array.from(tok.encode(c.text, { add_special_tokens: false })));
  bad += compare("deepseek_v3 ids", items, ref, frugalIds(dir, items, []));
}
{
  const dir = join(fixtures, "kimi_k2");
  const cfg = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const ranks = readFileSync(join(dir, "tiktoken.model"), "utf8");
  const nBase = ranks.split("\n").filter((l) => l.trim()).length;
  const special = {};
  for (let i = nBase; i < nBase + 256; i++) special[cfg.added_tokens_decoder[i]?.content ?? `<|reserved_token_${i}|>`] = i;
  const pat = readFileSync(join(dir, "pattern.txt"), "utf8").replace(/\n$/, "");
  const enc = new Tiktoken(ranks, special, pat);
  const items = texts.filter((c) => c.text.length < 25000);
  const ref = items.map((c) => Array.from(enc.encode(c.text, "all")));
  bad += compare("kimi_k2 ids", items, ref, frugalIds(dir, items, []));
  const ref2 = items.map((c) => Array.from(enc.encode(c.text, [], [])));
  bad += compare("kimi_k2 split-special", items, ref2, frugalIds(dir, items, ["--split-special"]));
  enc.free();
}
process.exit(bad ? 1 : 0);

// Encode throughput (MB/s, one thread) on the long_doc cases of the tokenizer
// fixtures: frugal (`frugal tokenize --bench N`) and the reference JavaScript
// tokenizer @lenml/tokenizers (DeepSeek-V3's tokenizer.json) in the same run.
// Usage: node bench/tokenizer_bench.mjs FRUGAL_BINARY FIXTURES_DIR [SECONDS]
// (bench/tokenizer_bench.sh installs @lenml/tokenizers and builds frugal).
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const [frugal, fixtures, secArg] = process.argv.slice(2);
const seconds = Number(secArg || 3);
if (!frugal || !fixtures) {
  console.error("usage: node tokenizer_bench.mjs FRUGAL_BINARY FIXTURES_DIR [SECONDS]");
  process.exit(2);
}

const longDocs = (model) =>
  readFileSync(join(fixtures, model, "cases.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((c) => c.category === "long_doc");

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const tmp = mkdtempSync(join(tmpdir(), "frugal-tokbench-"));

// frugal: encode the document `reps` times inside one process, timed there
// (excludes loading the tokenizer); checks the ids against the fixture too.
function frugalRun(model, c, reps) {
  const f = join(tmp, `${model}-${c.id}.txt`);
  writeFileSync(f, c.text, "utf8");
  const r = spawnSync(frugal, ["tokenize", "-m", join(fixtures, model), "--bench", String(reps)], {
    input: readFileSync(f),
    maxBuffer: 1 << 28,
    env: { ...process.env, OMP_NUM_THREADS: "1" },
  });
  if (r.status !== 0) throw new Error(`frugal failed: ${r.stderr}`);
  const ids = r.stdout.toString().trim().split(" ").filter(Boolean).map(Number);
  const m = /in ([0-9.]+) s/.exec(r.stderr.toString());
  return { secs: Number(m[1]), ok: same(ids, c.ids) };
}

function frugalMBs(model, c) {
  const bytes = Buffer.byteLength(c.text, "utf8");
  let reps = 1, t = frugalRun(model, c, reps);
  while (t.secs < seconds / 2) { // aim at ~seconds of encoding
    reps = Math.max(reps * 2, Math.ceil((reps * seconds) / Math.max(t.secs, 1e-3)));
    t = frugalRun(model, c, reps);
  }
  return { mbs: (bytes * reps) / t.secs / 1e6, ok: t.ok, reps };
}

function jsMBs(tok, c) {
  const bytes = Buffer.byteLength(c.text, "utf8");
  const ids = tok.encode(c.text, { add_special_tokens: false }); // warm-up
  let reps = 0;
  const t0 = process.hrtime.bigint();
  let dt = 0;
  while (dt < seconds) {
    tok.encode(c.text, { add_special_tokens: false });
    reps++;
    dt = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  return { mbs: (bytes * reps) / dt / 1e6, ok: same(Array.from(ids), c.ids), reps };
}

const fmt = (x) => x.toFixed(2).padStart(8);
console.log(`node ${process.version}, @lenml/tokenizers ${JSON.parse(readFileSync(new URL("./node_modules/@lenml/tokenizers/package.json", import.meta.url))).version}, ~${seconds} s per measurement, one thread`);

// DeepSeek-V3: frugal vs @lenml/tokenizers
const dsDir = join(fixtures, "deepseek_v3");
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(dsDir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(readFileSync(join(dsDir, "tokenizer_config.json"), "utf8")),
});
let fb = 0, jb = 0, ft = 0, jt = 0;
console.log("\nDeepSeek-V3 tokenizer.json        bytes   frugal MB/s   @lenml MB/s   ratio");
for (const c of longDocs("deepseek_v3")) {
  const bytes = Buffer.byteLength(c.text, "utf8");
  const f = frugalMBs("deepseek_v3", c);
  const j = jsMBs(tok, c);
  console.log(`  ${c.id} (ids ${f.ok ? "match" : "DIFFER"}/${j.ok ? "match" : "DIFFER"})  ${String(bytes).padStart(8)}  ${fmt(f.mbs)}      ${fmt(j.mbs)}      ${(f.mbs / j.mbs).toFixed(1)}x`);
  fb += bytes; ft += bytes / f.mbs; jb += bytes; jt += bytes / j.mbs;
}
const fAll = fb / ft, jAll = jb / jt;
console.log(`  all long_doc                    ${String(fb).padStart(8)}  ${fmt(fAll)}      ${fmt(jAll)}      ${(fAll / jAll).toFixed(1)}x`);

// Kimi-K2 (tiktoken.model): @lenml/tokenizers reads only tokenizer.json, so frugal alone
console.log("\nKimi-K2 tiktoken.model            bytes   frugal MB/s");
for (const c of longDocs("kimi_k2")) {
  const f = frugalMBs("kimi_k2", c);
  console.log(`  ${c.id} (ids ${f.ok ? "match" : "DIFFER"})        ${String(Buffer.byteLength(c.text, "utf8")).padStart(8)}  ${fmt(f.mbs)}`);
}
rmSync(tmp, { recursive: true, force: true });
console.log(`\nDeepSeek-V3 encode ratio frugal / @lenml/tokenizers: ${(fAll / jAll).toFixed(1)}x`);

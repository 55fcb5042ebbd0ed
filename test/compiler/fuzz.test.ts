// Fuzzing the compiler with mutated real configs (fast-check, fixed seed, so every run is the same).
// In process: compile() must never throw, must answer each input within 2 s, and every diagnostic
// must carry a stable LDMC code and a span. Through the CLI: no stack trace ever reaches the user.
//
// Random integers are drawn from a bounded set on purpose: a huge num_res_blocks makes static
// inference walk every block (see test/fixtures/broken/71-num-res-blocks-huge.yaml, a known bug),
// and a hang or an out-of-memory abort in process would take the whole mocha run down with it.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { compile, type CompilerHost } from '../../compiler/program.js';
import { referencePath, repoRoot } from '../support/reference.js';
import { yamlFiles } from '../support/files.js';

const SEED = Number(process.env.LDMC_FUZZ_SEED ?? 20261126);
const BUDGET_MS = 2000;
const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?/;


const seedFiles = [join(repoRoot, 'examples', 'celeba256.yaml'), ...yamlFiles(referencePath('ldm-configs'))];
const seeds = seedFiles.map((p) => ({ name: relative(repoRoot, p), text: readFileSync(p, 'utf8') }));

// ------------------------------------------------------------------ mutations

const scalarValue = fc.oneof(
  fc.constantFrom('0', '-1', '1', '3', '7', '31', '32', '33', '48', '224.0', '1e-9', '-0.5', '1.5e300', '.inf', '.nan', '0x20', '2', '64', '256', '1001'),
  fc.integer({ min: -2000, max: 2000 }).map(String),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(String),
  fc.constantFrom('null', '~', '', 'true', 'False', 'yes', '[]', '{}', '[1, 2]', '[8, 4, 2]', '[1, 2, 3, 4]', '{a: 1}', '__is_unconditional__', '__is_first_stage__'),
  fc.constantFrom('${model.params.image_size}', '${.x}', '${..}', '${}', '${oc.env:HOME}', '"${model.params}x"', '${model.params.nope}', '*anchor', '&anchor 3', '!!binary aGk=', '!!python/name:os.system', '!custom 1'),
  fc.constantFrom('ldm.modules.diffusionmodules.openaimodel.UNetModel', 'ldm.models.autoencoder.AutoencoderKL', 'torch.nn.Identity', 'os.system', 'main.DataModuleFromConfig'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }).map((s) => JSON.stringify(s)),
);

type Mutation =
  | { k: 'delete'; i: number }
  | { k: 'duplicate'; i: number }
  | { k: 'swap'; i: number; j: number }
  | { k: 'indent'; i: number; d: number }
  | { k: 'scalar'; i: number; v: string }
  | { k: 'bytes'; at: number; s: string }
  | { k: 'truncate'; at: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ k: fc.constant('delete' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('duplicate' as const), i: fc.nat() }),
  fc.record({ k: fc.constant('swap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({ k: fc.constant('indent' as const), i: fc.nat(), d: fc.integer({ min: -4, max: 4 }) }),
  { arbitrary: fc.record({ k: fc.constant('scalar' as const), i: fc.nat(), v: scalarValue }), weight: 4 },
  fc.record({ k: fc.constant('bytes' as const), at: fc.nat(), s: fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }), fc.constantFrom('\t', '\0', '\r', '\uFEFF', ':', '- ', '? ', '{', ']', '&a ', '*a', '---\n', '%YAML 1.1\n', '#', "'", '"')) }),
  fc.record({ k: fc.constant('truncate' as const), at: fc.nat() }),
);

export function mutate(text: string, muts: readonly Mutation[]): string {
  let lines = text.split('\n');
  for (const m of muts) {
    const n = Math.max(1, lines.length);
    switch (m.k) {
      case 'delete':
        lines.splice(m.i % n, 1);
        break;
      case 'duplicate':
        lines.splice(m.i % n, 0, lines[m.i % n] ?? '');
        break;
      case 'swap': {
        const a = m.i % n, b = m.j % n;
        [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
        break;
      }
      case 'indent': {
        const l = lines[m.i % n] ?? '';
        lines[m.i % n] = m.d >= 0 ? ' '.repeat(m.d) + l : l.replace(new RegExp(`^ {0,${-m.d}}`), '');
        break;
      }
      case 'scalar': {
        // The value of the first `key: value` (or `- value`) line at or after i.
        for (let k = 0; k < n; k++) {
          const idx = (m.i + k) % n;
          const l = lines[idx] ?? '';
          const kv = /^(\s*(?:- )?[\w.]+:\s)(.+)$/.exec(l) ?? /^(\s*-\s)(.+)$/.exec(l);
          if (kv) {
            lines[idx] = kv[1] + m.v;
            break;
          }
        }
        break;
      }
      case 'bytes': {
        const t = lines.join('\n');
        const at = t.length ? m.at % t.length : 0;
        lines = (t.slice(0, at) + m.s + t.slice(at)).split('\n');
        break;
      }
      case 'truncate': {
        const t = lines.join('\n');
        lines = t.slice(0, t.length ? m.at % t.length : 0).split('\n');
        break;
      }
    }
  }
  return lines.join('\n');
}

const input = fc.record({
  seed: fc.nat({ max: seeds.length - 1 }),
  muts: fc.array(mutation, { minLength: 1, maxLength: 4 }),
});

// ------------------------------------------------------------------ in process

interface Stats {
  runs: number;
  maxMs: number;
  totalMs: number;
  withErrors: number;
  clean: number;
  codes: Map<string, number>;
}

function memoryHost(text: string): CompilerHost {
  return { readFile: () => text, fileExists: () => false };
}

function compileChecked(text: string, overrides: readonly string[], stats: Stats): void {
  const t0 = performance.now();
  let result;
  try {
    result = compile({ files: ['fuzz.yaml'], overrides }, memoryHost(text));
  } catch (e) {
    throw new Error(`compile() threw ${(e as Error)?.stack ?? String(e)}\n--- input ---\n${text}\n--- overrides --- ${JSON.stringify(overrides)}`);
  }
  const ms = performance.now() - t0;
  stats.runs++;
  stats.totalMs += ms;
  stats.maxMs = Math.max(stats.maxMs, ms);
  if (ms > BUDGET_MS) throw new Error(`compile() took ${Math.round(ms)} ms (budget ${BUDGET_MS} ms)\n--- input ---\n${text}`);
  if (result.hasErrors) stats.withErrors++;
  else stats.clean++;
  for (const d of result.diagnostics) {
    stats.codes.set(d.code, (stats.codes.get(d.code) ?? 0) + 1);
    const where = `${d.code} ${d.message}\n--- input ---\n${text}\n--- overrides --- ${JSON.stringify(overrides)}`;
    if (!/^LDMC\d{3}$/.test(d.code)) throw new Error(`bad code: ${where}`);
    if (d.code === 'LDMC900') throw new Error(`internal error diagnostic: ${where}`);
    if (!d.span || !(d.span.line >= 0) || !(d.span.col >= 0)) throw new Error(`diagnostic without a usable span (${JSON.stringify(d.span)}): ${where}`);
    if (!['error', 'warning', 'info'].includes(d.severity)) throw new Error(`bad severity ${d.severity}: ${where}`);
    // Formatting slips: a template argument that was never filled or an object printed raw.
    for (const bad of ['[object Object]', 'undefined', 'NaN']) {
      const lc = bad.toLowerCase();
      if (d.message.includes(bad) && !text.toLowerCase().includes(lc) && !overrides.some((o) => o.toLowerCase().includes(lc))) throw new Error(`'${bad}' in the message: ${where}`);
    }
  }
}

function newStats(): Stats {
  return { runs: 0, maxMs: 0, totalMs: 0, withErrors: 0, clean: 0, codes: new Map() };
}

function report(title: string, s: Stats): void {
  const codes = [...s.codes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => `${c}×${n}`).join(' ');
  console.log(`      ${title}: ${s.runs} runs, ${s.withErrors} with errors, ${s.clean} clean; mean ${(s.totalMs / Math.max(1, s.runs)).toFixed(1)} ms, max ${s.maxMs.toFixed(1)} ms`);
  console.log(`      codes: ${codes}`);
}

describe('fuzz: mutated reference configs', function () {
  this.timeout(60_000);

  it(`has seed configs (${seeds.length})`, function () {
    expect(seeds.length).to.be.at.least(1);
  });

  it('compile() in process: never throws, < 2 s per input, well-formed diagnostics', function () {
    const stats = newStats();
    fc.assert(
      fc.property(input, ({ seed, muts }) => {
        compileChecked(mutate(seeds[seed]!.text, muts), [], stats);
      }),
      { seed: SEED, numRuns: Number(process.env.LDMC_FUZZ_RUNS ?? 2000), endOnFailure: true },
    );
    report('mutated text', stats);
  });

  it('compile() in process with random --set overrides', function () {
    const stats = newStats();
    const key = fc.oneof(
      fc.constantFrom('model', 'model.params', 'model.params.image_size', 'model.params.unet_config.params.model_channels', 'model.params.unet_config.params.attention_resolutions.0', 'model.params.first_stage_config.params.ddconfig', 'model.params.cond_stage_config', 'lightning.trainer.gpus', 'data.params.batch_size', 'model.params.unet_config.params.num_heads.x', 'a..b', '', '.'),
      fc.string({ maxLength: 10 }),
    );
    const override = fc.oneof(
      fc.tuple(key, scalarValue).map(([k, v]) => `${k}=${v}`),
      fc.string({ maxLength: 16 }),
    );
    fc.assert(
      fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(override, { minLength: 1, maxLength: 3 }), (seed, overrides) => {
        compileChecked(seeds[seed]!.text, overrides, stats);
      }),
      { seed: SEED, numRuns: Math.floor(Number(process.env.LDMC_FUZZ_RUNS ?? 2000) / 2), endOnFailure: true },
    );
    report('random overrides', stats);
  });

  it('the CLI never prints a stack trace or an internal error (20 runs)', async function () {
    const dir = mkdtempSync(join(tmpdir(), 'ldmc-fuzz-'));
    try {
      const samples = fc.sample(input, { seed: SEED, numRuns: 20 });
      const files = samples.map(({ seed, muts }, i) => {
        const p = join(dir, `case-${String(i).padStart(2, '0')}.yaml`);
        writeFileSync(p, mutate(seeds[seed]!.text, muts));
        return p;
      });
      const bin = join(repoRoot, 'bin', 'ldmc.js');
      const run = (file: string, args: string[]) =>
        new Promise<{ file: string; code: number | null; out: string }>((res) => {
          execFile(process.execPath, [bin, 'check', ...args, file], { cwd: repoRoot, timeout: 20_000, killSignal: 'SIGKILL', env: { ...process.env, LDMC_DEBUG: '' } }, (err, stdout, stderr) => {
            const e = err as { code?: number | string } | null;
            res({ file, code: e ? (typeof e.code === 'number' ? e.code : null) : 0, out: `\n${stdout}\n${stderr}` });
          });
        });
      const results: { file: string; code: number | null; out: string }[] = [];
      for (let i = 0; i < files.length; i += 2) {
        results.push(...(await Promise.all(files.slice(i, i + 2).map((f, k) => run(f, (i + k) % 2 ? ['--format', 'json'] : [])))));
      }
      for (const r of results) {
        const why = `${r.file} (exit ${r.code}):\n${readFileSync(r.file, 'utf8')}\n--- output ---${r.out}`;
        expect(STACK_TRACE.test(r.out), `stack trace: ${why}`).to.equal(false);
        expect(/internal error/i.test(r.out), `internal error: ${why}`).to.equal(false);
        expect([0, 1], `exit status: ${why}`).to.include(r.code);
      }
      const codes = results.map((r) => r.code);
      console.log(`      CLI: ${results.length} runs, exit 0 ×${codes.filter((c) => c === 0).length}, exit 1 ×${codes.filter((c) => c === 1).length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

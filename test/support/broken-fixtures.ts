// The broken-config corpus (test/fixtures/broken): the header format, the cases, and one run of
// each through the REAL CLI as a child process (`node bin/ldmc.js check --format json ...`).
// test/compiler/broken.test.ts checks each case's promises; test/compiler/messages.test.ts checks
// that the runs, together, produce every code of the message table. The runs happen once per
// mocha process, whichever test asks first.
//
// Header (the leading `#` lines of a fixture):
//   # expect: exit=1 code=LDMC400 line=14 [file=NAME]   one per expected diagnostic; exit= on any one.
//                                                       file= is a fixture-relative name, or `--set`
//                                                       for an override; default: the fixture itself.
//   # args: --set a.b=c                                 extra CLI arguments (split on blanks)
//   # files: other.part.yaml                            more files, merged after the fixture
//   # only-files: x.part.yaml                           check these files instead of the fixture
//   # expect-message: LDMC102 text                      a diagnostic with that code whose message has text
//   # expect-hint: LDMC300 text                         ... whose hint has text
//   # expect-file: LDMC401 --set a.b=c                  ... whose file is exactly that
//   # absent: /tmp/path                                 removed before the run, must not exist after it
//   # absent-code: LDMC520                              no diagnostic with that code
//   # timeout-ms: 2500                                  kill the run after this long (default 20000)
//   # known-bug: what is wrong                          a compiler bug: the case is reported as pending
//                                                       while it fails, and fails once it passes (so the
//                                                       marker gets removed when the bug is fixed)
// Files named *.part.* are pieces of multi-file cases, not cases.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { DiagnosticJson } from '../../compiler/emit.js';
import { repoRoot } from './reference.js';

export const fixtureDir = join(repoRoot, 'test', 'fixtures', 'broken');
export const fixtureRel = relative(repoRoot, fixtureDir);
const bin = join(repoRoot, 'bin', 'ldmc.js');

/** A stack frame line as Node prints it: `    at fn (file.js:12:5)`. */
export const STACK_TRACE = /\n\s+at .+:\d+:\d+\)?/;

export interface Expectation {
  code: string;
  line: number | undefined;
  file: string | undefined;
}

export interface Case {
  name: string;
  path: string;
  exit: number | undefined;
  expects: Expectation[];
  args: string[];
  files: string[];
  messages: [string, string][];
  hints: [string, string][];
  fileLabels: [string, string][];
  absent: string[];
  /** Codes that must not be reported (e.g. a rule said twice). */
  absentCodes: string[];
  timeoutMs: number;
  knownBug: string | undefined;
}

/** What `ldmc check --format json` prints per diagnostic (the CLI's own type). */
export type JsonDiagnostic = DiagnosticJson;

export interface RunResult {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export function parseCase(name: string): Case {
  const path = join(fixtureDir, name);
  const c: Case = { name, path, exit: undefined, expects: [], args: [], files: [join(fixtureRel, name)], messages: [], hints: [], fileLabels: [], absent: [], absentCodes: [], timeoutMs: 20_000, knownBug: undefined };
  let extra: string[] = [];
  let only: string[] | undefined;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    if (!raw.startsWith('#')) break;
    const m = /^#\s*([a-z-]+):\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    const [, key, rest] = m as unknown as [string, string, string];
    const codeAndText = (): [string, string] => {
      const sp = rest.indexOf(' ');
      return [rest.slice(0, sp), rest.slice(sp + 1)];
    };
    switch (key) {
      case 'expect': {
        const kv = Object.fromEntries(rest.split(/\s+/).map((t) => t.split('=', 2) as [string, string]));
        if (kv.exit !== undefined) c.exit = Number(kv.exit);
        if (kv.code) c.expects.push({ code: kv.code, line: kv.line === undefined ? undefined : Number(kv.line), file: kv.file });
        break;
      }
      case 'args':
        c.args.push(...rest.split(/\s+/).filter(Boolean));
        break;
      case 'files':
        extra = rest.split(/\s+/).filter(Boolean);
        break;
      case 'only-files':
        only = rest.split(/\s+/).filter(Boolean);
        break;
      case 'expect-message':
        c.messages.push(codeAndText());
        break;
      case 'expect-hint':
        c.hints.push(codeAndText());
        break;
      case 'expect-file':
        c.fileLabels.push(codeAndText());
        break;
      case 'absent':
        c.absent.push(rest);
        break;
      case 'absent-code':
        c.absentCodes.push(rest.trim());
        break;
      case 'timeout-ms':
        c.timeoutMs = Number(rest);
        break;
      case 'known-bug':
        c.knownBug = rest;
        break;
    }
  }
  if (only) c.files = only.map((f) => join(fixtureRel, f));
  c.files.push(...extra.map((f) => join(fixtureRel, f)));
  return c;
}

export function runCli(args: readonly string[], timeoutMs = 20_000): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [bin, ...args], { cwd: repoRoot, timeout: timeoutMs, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1', LDMC_DEBUG: '' } }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: string }) | null;
      resolvePromise({
        status: e ? (typeof e.code === 'number' ? e.code : null) : 0,
        signal: e?.signal ?? null,
        stdout: String(stdout),
        stderr: String(stderr),
        ms: performance.now() - t0,
      });
    });
  });
}

/** Runs `f` over `items` with at most `n` in flight. */
async function pool<T, R>(items: readonly T[], n: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

export const names = readdirSync(fixtureDir)
  .filter((f) => /^\d{2,3}-.*\.yaml$/.test(f) && !f.includes('.part.'))
  .sort();
export const cases = names.map(parseCase);


let runs: Promise<Map<string, RunResult>> | undefined;

/** Each case's CLI run, by case name: started on the first call, shared by every later one. */
export function runAllCases(): Promise<Map<string, RunResult>> {
  runs ??= (async () => {
    for (const c of cases) for (const a of c.absent) rmSync(a, { force: true });
    const out = await pool(cases, 3, (c) => runCli(['check', '--format', 'json', ...c.files, ...c.args], c.timeoutMs));
    return new Map(cases.map((c, i) => [c.name, out[i]!]));
  })();
  return runs;
}

/** The JSON report's diagnostics, or undefined when stdout is not the report. */
export function reportedDiagnostics(r: RunResult): JsonDiagnostic[] | undefined {
  try {
    return (JSON.parse(r.stdout) as { diagnostics: JsonDiagnostic[] }).diagnostics;
  } catch {
    return undefined;
  }
}

// The `ldmc` command: a thin shell over compiler/ (and runtime/, loaded only by the commands
// that run models, so `check` stays fast). Likewise the emitters and the file writer load only in
// the commands that use them: a plain `ldmc check` pays for parsing and checking, nothing more.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDialect } from '../compiler/dialect.js';
import type { Dialect } from '../schema/types.js';
import { compile, type CompileResult } from '../compiler/program.js';
import { loadPlugins, type PluginRun } from '../compiler/plugin-load.js';
import type { SourceLimits } from '../compiler/limits.js';
import { parseArgs, UsageError, type ParsedArgs } from './args.js';
import { CliError } from './errors.js';
import { closest } from '../schema/suggest.js';
import { DiskHost } from './host.js';
import { defaultIo, printDiagnostics, type Io } from './io.js';

export const USAGE = `ldmc — the latent-diffusion model compiler

Usage:
  ldmc check   FILE... [--set key.path=value ...] [--dialect ldm|sd1|sd2] [--format text|json]
               [--max-document-size BYTES] [--max-scalar-length N]
  ldmc inspect FILE... [--set ...] [--dialect D] [--json]
  ldmc compile FILE... [--set ...] [--name NAME] [--out DIR]
  ldmc export  FILE... [--set ...] --to ldm|sd1|sd2 --out resolved.yaml   the resolved config for that
               repository (ldm CompVis/latent-diffusion, sd1 CompVis/stable-diffusion, sd2 Stability-AI/stablediffusion)
  ldmc forward CONFIG... --weights W --inputs I.safetensors --out O.safetensors
               [--component unet|first_stage|cond_stage] [--backend tensorflow|wasm|cpu]
               [--prefix P] [--ignore-keys P ...] [--non-strict] [--set ...]
  ldmc convert MODEL.ckpt OUT.safetensors [--select PREFIX]
  ldmc train   CONFIG... [--data DIR] [--max-steps N] [--resume RUN] [--run-dir DIR] [--set ...]
               [--backend B] [--seed N] [--ckpt-every N] [--val-every N] [--val-batches N] [--workers N]
               [--lpips-weights FILE]
  ldmc sample  CONFIG... --ckpt CKPT --out GRID.png [--sampler ddim|plms|ddpm] [--steps S]
               [--eta E] [--scale G --uc-class K] [--class K] [-n N] [--seed SEED] [--no-ema]
               [--backend tensorflow|wasm|cpu] [--threads T] [--set ...]
  ldmc txt2img CONFIG... --ckpt CKPT --prompt TEXT --out FILE.png [--negative TEXT] [--scale 7.5]
               [--steps 50] [--sampler ddim|plms|dpm] [--eta 0] [--H 512 --W 512] [-n 1] [--seed 42]
               [--x-T START.safetensors] [--no-ema] [--backend tensorflow|wasm|cpu] [--threads T] [--set ...]
               Stable Diffusion text to image from a published .ckpt/.safetensors (SD 1.x, 2.x; f32,
               f16, bf16); -n N writes one row of N samples; the PNG's text chunks hold the settings
  ldmc schema  [--out FILE] [--plugin FILE ...]   the JSON Schema for editors (stdout without --out)
  ldmc lsp     --stdio             the language server for editors (diagnostics, hover, completion, ...)

check, inspect, compile, export and schema take --plugin FILE (repeatable): a .ts/.js module that
exports definePlugin({ targets, extend }), for a fork's own targets and params. The project's plugins
("ldmc": { "plugins": [...] } in the nearest package.json, or ldmc.config.ts) load too.
Files merge left to right (mappings deeply, lists replaced), then --set overrides apply.
A file whose first lines say \`# ldmc: base=../other.yaml\` is merged on top of that base.
The dialect (which of those repositories reads the config) is inferred from the targets, params
and values it uses, or set with --dialect; \`inspect\` shows it.
Exit status: 0 no errors, 1 errors found, 2 usage error.
`;

export async function main(argv: readonly string[], io: Io = defaultIo()): Promise<number> {
  try {
    return await run(argv, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`ldmc: error${e.code ? `[${e.code}]` : ''}: ${e.message}`);
      if (e.hint) io.err(`  help: ${e.hint}`);
      return 1;
    }
    if (e instanceof UsageError) {
      io.err(`ldmc: ${e.message}`);
      io.err(`Run 'ldmc --help' for usage.`);
      return 2;
    }
    // A crash is our bug, never the user's: say so briefly; the stack only on request.
    io.err(`ldmc: internal error: ${(e as Error)?.message ?? String(e)}`);
    io.err('  help: this is a bug in ldmc; please report it with the config that triggered it (LDMC_DEBUG=1 shows the stack)');
    if (process.env.LDMC_DEBUG) io.err(String((e as Error)?.stack));
    return 70;
  }
}

async function run(argv: readonly string[], io: Io): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-v') {
    io.out(readVersion());
    return 0;
  }
  switch (cmd) {
    case 'check':
      return checkCommand(parseArgs(rest, { values: ['set', 'format', 'max-document-size', 'max-scalar-length', 'plugin', 'dialect'], flags: ['no-frame'] }), io);
    case 'inspect':
      return inspectCommand(parseArgs(rest, { values: ['set', 'format', 'plugin', 'dialect'], flags: ['json', 'no-frame'] }), io);
    case 'compile':
      return compileCommand(parseArgs(rest, { values: ['set', 'out', 'name', 'format', 'plugin', 'dialect'], flags: ['no-frame', 'json'] }), io);
    case 'export': {
      const a = parseArgs(rest, { values: ['set', 'to', 'out', 'format', 'plugin'], flags: ['no-frame'] });
      const to = a.values.to?.at(-1) ?? 'ldm';
      if (!isDialect(to)) throw new UsageError(`--to must be ldm, sd1 or sd2, not '${to}'`);
      const out = a.values.out?.at(-1);
      if (!out) throw new UsageError('--out is required (the YAML file to write)');
      // Checked as that repository: whatever it lacks is an error at its line (LDMC312).
      const { result } = await runCompiler(a, to);
      printDiagnostics(result, a, io);
      if (result.hasErrors || !result.graph) return 1;
      const { exportConfig } = await import('../compiler/export.js');
      const { writeAtomic } = await import('./fs-util.js');
      const x = exportConfig(result, to);
      for (const t of x.ldmcOnly) io.err(`warning: ${t.path} uses ${t.target}, an ldmc-only target that main.py cannot import`);
      writeAtomic(resolve(out), x.text);
      io.out(`wrote ${out}`);
      return 0;
    }
    case 'schema': {
      const a = parseArgs(rest, { values: ['out', 'plugin'], flags: ['no-frame'] });
      if (a.positionals.length) throw new UsageError(`schema takes no files (got '${a.positionals[0]}')`);
      // The project's plugins are those of the working directory's project.
      const plugins = await loadPlugins(a.values.plugin ?? [], process.cwd(), { allowTs: true });
      if (plugins.hasErrors) {
        printDiagnostics(pluginFailure(plugins), a, io, io.err);
        return 1;
      }
      const { jsonSchemaText } = await import('../compiler/emit-schema.js');
      const { writeAtomic } = await import('./fs-util.js');
      const out = a.values.out?.at(-1);
      if (out) writeAtomic(resolve(out), jsonSchemaText(plugins.registry));
      else io.out(jsonSchemaText(plugins.registry).trimEnd());
      return 0;
    }
    case 'forward':
      return forwardCommand(parseArgs(rest, { values: ['set', 'weights', 'inputs', 'out', 'component', 'backend', 'prefix', 'ignore-keys'], flags: ['non-strict', 'no-frame'] }), io);
    case 'sample': {
      // tfjs and sharp load only here, so check/inspect/compile stay fast.
      const { sampleCommand, SAMPLE_ARGS } = await import('./sample.js');
      return sampleCommand(parseArgs(rest, SAMPLE_ARGS), io);
    }
    case 'txt2img': {
      const { txt2imgCommand, TXT2IMG_ARGS } = await import('./txt2img.js');
      return txt2imgCommand(parseArgs(rest, TXT2IMG_ARGS), io);
    }
    case 'train':
      return trainCommand(parseArgs(rest, { values: ['set', 'data', 'max-steps', 'resume', 'run-dir', 'backend', 'seed', 'ckpt-every', 'val-every', 'val-batches', 'workers', 'lpips-weights'], flags: ['no-frame'] }), io);
    case 'lsp': {
      const a = parseArgs(rest, { values: ['debounce'], flags: ['stdio'] });
      if (a.positionals.length) throw new UsageError(`lsp takes no files (got '${a.positionals[0]}')`);
      // The protocol library loads only here; the server never loads runtime/ (tfjs) or codegen.
      const { startStdioServer } = await import('../lsp/server.js');
      const debounce = a.values.debounce?.at(-1);
      if (debounce !== undefined && !(Number(debounce) >= 0)) throw new UsageError(`--debounce must be a number of milliseconds, not '${debounce}'`);
      await startStdioServer(debounce === undefined ? {} : { debounceMs: Number(debounce) });
      return 0;
    }
    case 'convert':
      return convertCommand(parseArgs(rest, { values: ['select'], flags: [] }), io);
    default: {
      const commands = ['check', 'inspect', 'compile', 'schema', 'export', 'forward', 'convert', 'train', 'sample', 'txt2img', 'lsp'];
      const guess = closest(cmd, commands);
      throw new UsageError(`unknown command '${cmd}'${guess ? ` (did you mean '${guess}'?)` : ''}`);
    }
  }
}

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    return pkg.version;
  } catch {
    return 'unknown';
  }
}

/**
 * Loads the plugins (the project's, found from the first config's folder, then each --plugin) and
 * compiles against the run's registry. A faulty plugin stops the run: its diagnostics are the result.
 */
async function runCompiler(a: ParsedArgs, dialect: Dialect | undefined = dialectOf(a)): Promise<{ result: CompileResult; host: DiskHost }> {
  if (a.positionals.length === 0) throw new UsageError('no config file given');
  const host = new DiskHost();
  const plugins = await loadPlugins(a.values.plugin ?? [], dirname(resolve(a.positionals[0]!)), { allowTs: true });
  if (plugins.hasErrors) return { result: pluginFailure(plugins), host };
  const result = compile({ files: a.positionals, overrides: a.values.set ?? [], limits: limitsOf(a), registry: plugins.registry, ...(dialect ? { dialect } : {}) }, host);
  return { result, host };
}

/** A compile result that holds only the plugin faults (nothing was compiled). */
function pluginFailure(p: PluginRun): CompileResult {
  return { files: [], diagnostics: p.diagnostics, graph: undefined, inference: undefined, merged: undefined, hasErrors: true, sources: p.sources, registry: p.registry };
}

/** `--dialect ldm|sd1|sd2`, when given. */
function dialectOf(a: ParsedArgs): Dialect | undefined {
  const d = a.values.dialect?.at(-1);
  if (d === undefined) return undefined;
  if (!isDialect(d)) throw new UsageError(`--dialect must be ldm, sd1 or sd2, not '${d}'`);
  return d;
}

/** `--max-document-size` / `--max-scalar-length` (check), else LDMC_MAX_DOCUMENT_BYTES; unset: the defaults. */
function limitsOf(a: ParsedArgs): Partial<SourceLimits> {
  const count = (flag: string, v: string | undefined): number | undefined => {
    if (v === undefined || v === '') return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, not '${v}'`);
    return n;
  };
  const bytes = count('--max-document-size', a.values['max-document-size']?.at(-1)) ?? count('LDMC_MAX_DOCUMENT_BYTES', process.env.LDMC_MAX_DOCUMENT_BYTES);
  const scalar = count('--max-scalar-length', a.values['max-scalar-length']?.at(-1));
  return { ...(bytes !== undefined ? { maxDocumentBytes: bytes } : {}), ...(scalar !== undefined ? { maxScalarLength: scalar } : {}) };
}

function format(a: ParsedArgs): 'text' | 'json' {
  const f = a.values.format?.at(-1) ?? (a.flags.has('json') ? 'json' : 'text');
  if (f !== 'text' && f !== 'json') throw new UsageError(`--format must be text or json, not '${f}'`);
  return f;
}

async function checkCommand(a: ParsedArgs, io: Io): Promise<number> {
  const { result } = await runCompiler(a);
  if (format(a) === 'json') {
    const { diagnosticJson, dialectJson } = await import('../compiler/emit.js');
    io.out(JSON.stringify({ diagnostics: result.diagnostics.map(diagnosticJson), ...(result.dialect ? { dialect: dialectJson(result.dialect) } : {}) }));
  } else printDiagnostics(result, a, io);
  return result.hasErrors ? 1 : 0;
}

async function inspectCommand(a: ParsedArgs, io: Io): Promise<number> {
  const { result } = await runCompiler(a);
  const { formatSummary, inspectJson } = await import('../compiler/emit.js');
  const j = inspectJson(result);
  if (format(a) === 'json') {
    io.out(JSON.stringify(j, null, 2));
  } else {
    printDiagnostics(result, a, io);
    if (result.graph?.model) io.out(formatSummary(j));
  }
  return result.hasErrors ? 1 : 0;
}

async function compileCommand(a: ParsedArgs, io: Io): Promise<number> {
  const { result } = await runCompiler(a);
  const { defaultName, diagnosticJson, emitArtifacts, formatSummary, inspectJson } = await import('../compiler/emit.js');
  const { writeAtomic } = await import('./fs-util.js');
  const json = format(a) === 'json';
  if (json) io.out(JSON.stringify({ diagnostics: result.diagnostics.map(diagnosticJson) }));
  else printDiagnostics(result, a, io);
  if (result.hasErrors) return 1;
  const name = a.values.name?.at(-1) ?? defaultName(a.positionals[a.positionals.length - 1]!);
  if (!/^[A-Za-z0-9_][A-Za-z0-9_-]*$/.test(name)) throw new UsageError(`--name '${name}' must be letters, digits, '-' and '_'`);
  const outDir = resolve(a.values.out?.at(-1) ?? 'generated');
  const files = emitArtifacts(result, name);
  // ts-morph and handlebars load only here: `check` never pays for them.
  const { emitTypeScript } = await import('../compiler/emit-ts.js');
  const pkgRoot = fileURLToPath(new URL('../..', import.meta.url));
  const inside = !relative(pkgRoot, join(outDir, name)).startsWith('..');
  const ts = emitTypeScript(result, {
    name,
    files: result.files,
    texts: result.files.map((f) => result.sources.get(f) ?? ''),
    overrides: a.values.set ?? [],
    runtimeBase: inside ? relative(join(outDir, name), pkgRoot).split(sep).join('/') : 'ldmc',
  });
  for (const [k, v] of ts) files.set(k, v);
  for (const [rel, text] of files) writeAtomic(join(outDir, rel), text);
  if (!json) {
    io.out(formatSummary(inspectJson(result)));
    io.out(`wrote ${[...files.keys()].map((f) => join(a.values.out?.at(-1) ?? 'generated', f)).join(', ')}`);
  }
  return 0;
}

async function forwardCommand(a: ParsedArgs, io: Io): Promise<number> {
  const required = (k: string) => {
    const v = a.values[k]?.at(-1);
    if (!v) throw new UsageError(`--${k} is required`);
    return v;
  };
  const weights = required('weights'), inputs = required('inputs'), out = required('out');
  const { result } = await runCompiler(a);
  if (result.hasErrors || !result.graph?.model) {
    printDiagnostics(result, a, io);
    return 1;
  }
  // tfjs loads only here, so check/inspect/compile stay fast.
  const fwd = await import('./forward.js');
  const backend = fwd.parseBackend(a);
  const sel = fwd.selectComponent(result.graph.model, a.values.component?.at(-1));
  const names = await fwd.runForward(sel, {
    weights,
    inputs,
    out,
    backend,
    prefix: a.values.prefix?.at(-1),
    ignoreKeys: a.values['ignore-keys'] ?? [],
    strict: !a.flags.has('non-strict'),
    log: io.err,
  });
  io.out(`wrote ${out}: ${names.join(', ')}`);
  return 0;
}

function intOption(a: ParsedArgs, name: string): number | undefined {
  const v = a.values[name]?.at(-1);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, not '${v}'`);
  return n;
}

async function trainCommand(a: ParsedArgs, io: Io): Promise<number> {
  const resume = a.values.resume?.at(-1);
  if (a.positionals.length === 0 && resume) a.positionals.push(join(resume, 'config.yaml'));
  const { result } = await runCompiler(a);
  printDiagnostics(result, a, io);
  if (result.hasErrors || !result.graph?.model) return 1;
  const { runTrain } = await import('./train.js');
  const { parseBackend } = await import('./forward.js');
  return runTrain({
    files: a.positionals,
    result,
    dataRoot: a.values.data?.at(-1),
    maxSteps: intOption(a, 'max-steps'),
    resume,
    runDir: a.values['run-dir']?.at(-1),
    backend: parseBackend(a),
    seed: intOption(a, 'seed') ?? 23,
    checkpointEvery: intOption(a, 'ckpt-every'),
    validateEvery: intOption(a, 'val-every'),
    valBatches: intOption(a, 'val-batches'),
    numWorkers: intOption(a, 'workers'),
    lpipsWeights: a.values['lpips-weights']?.at(-1),
    log: io.err,
    progress: io.progress,
  });
}

async function convertCommand(a: ParsedArgs, io: Io): Promise<number> {
  if (a.positionals.length !== 2) throw new UsageError('convert takes an input checkpoint and an output .safetensors path');
  const [input, output] = a.positionals as [string, string];
  const { convertWeights } = await import('./convert.js');
  const r = convertWeights(input, output, a.values.select?.at(-1), io.progress);
  io.out(`wrote ${output}: ${r.tensors} tensors, ${r.elements.toLocaleString('en-US')} values`);
  if (r.converted.length) io.err(`note: stored as F32: ${r.converted.slice(0, 5).join(', ')}${r.converted.length > 5 ? ', …' : ''}`);
  return 0;
}

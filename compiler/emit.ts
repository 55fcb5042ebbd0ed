// Phase 6, emit: pure functions from a compile result to artefacts. `emitArtifacts` returns a
// Map<path, text> and never writes (cf. Prisma's buildClient); the CLI writes. Emitters for
// generated TypeScript, the model card and the JSON Schema plug in as more entries of that map.
import { basename, dirname } from 'node:path/posix';
import { DialectRepos, type Dialect } from '../schema/types.js';
import type { Diagnostic } from './diagnostics.js';
import type { DialectInfo } from './dialect.js';
import type { Inference, LearningRate, MemoryEstimate } from './infer.js';
import type { IRNode } from './ir.js';
import type { CompileResult } from './program.js';

export interface DiagnosticJson {
  severity: string;
  code: string;
  message: string;
  file: string | null;
  line: number | null;
  col: number | null;
  hint: string | null;
}

export function diagnosticJson(d: Diagnostic): DiagnosticJson {
  const real = d.span && d.span.line > 0;
  return {
    severity: d.severity,
    code: d.code,
    message: d.message,
    file: d.span?.file ?? null,
    line: real ? d.span!.line : null,
    col: real ? d.span!.col : null,
    hint: d.hint ?? null,
  };
}

type Shape = [number, number, number];

export interface ComponentJson {
  target: string;
  params: number | null;
  config: Record<string, unknown>;
  source: { file: string; line: number; col: number };
}

/** Which repository reads the config (compiler/dialect.ts), as check --format json and inspect --json print it. */
export interface DialectJson {
  /** ldm, sd1 or sd2. */
  dialect: Dialect;
  repository: string;
  /** Every dialect that accepts the whole config (empty: none does). */
  accepted: Dialect[];
  /** true when --dialect chose it. */
  given: boolean;
}

export function dialectJson(d: DialectInfo): DialectJson {
  return { dialect: d.dialect, repository: DialectRepos[d.dialect], accepted: [...d.accepted], given: d.given };
}

export interface InspectJson {
  file: string;
  files: string[];
  diagnostics: DiagnosticJson[];
  dialect: DialectJson | null;
  components: {
    unet: (ComponentJson & { input_shape: Shape; output_shape: Shape; attention_resolutions: number[]; attention: { block: string; path: string; resolution: [number, number]; channels: number; heads: number; head_channels: number; kind: string }[]; flops: number; parts: Record<string, number> }) | null;
    first_stage: (ComponentJson & { parts: Record<string, number>; latent_shape: Shape; input_shape: Shape; output_shape: Shape; attention_resolutions: number[]; flops: { encode: number; decode: number; quantize: number; total: number } }) | null;
    cond_stage: (Partial<ComponentJson> & { target: string; params: number | null; output: unknown; flops: number | null; note?: string }) | null;
    /** A wrapper's other conditioning modules (sd2's embedder, noise augmentor, low-scale model, depth stage). */
    extra_stages: (ComponentJson & { slot: string; output: unknown; flops: number | null; note?: string })[];
    /** Modules a plugin hangs on the model through a slot it added (e.g. personalization_config); params null when unknown. */
    plugin_parts: (ComponentJson & { slot: string; plugin: string | null })[];
  };
  /** `params` sums the known counts; `params_unknown` lists the parts it leaves out (then it is partial). */
  model: { target: string; params: number | null; params_unknown: string[]; conditioning_key: string | null; input_shape: Shape | null; output_shape: Shape | null } | null;
  effective_learning_rate: number | null;
  learning_rate: LearningRate | null;
  memory: MemoryEstimate | null;
}

function component(n: IRNode): ComponentJson {
  return {
    target: n.target,
    params: null,
    config: publicParams(n),
    source: { file: n.targetSpan.file, line: n.targetSpan.line, col: n.targetSpan.col },
  };
}

/** Params as JSON: child configs are shown by their target. */
function publicParams(n: IRNode): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n.params)) {
    const c = n.children.get(k);
    out[k] = c === undefined ? v : c === null ? null : typeof c === 'string' ? c : { target: c.target };
  }
  return out;
}

export function inspectJson(r: CompileResult): InspectJson {
  const inf: Inference | undefined = r.inference;
  const g = r.graph;
  const u = inf?.unet;
  const fs = inf?.firstStage;
  const cs = inf?.condStage;
  const uniq = (xs: number[]) => [...new Set(xs)];
  const modelIsFirstStage = g?.model?.spec.families.includes('first_stage') ?? false;
  const modelIsUNet = g?.model?.spec.families.includes('unet') ?? false;
  return {
    file: r.files[r.files.length - 1] ?? '',
    files: [...r.files],
    diagnostics: r.diagnostics.map(diagnosticJson),
    dialect: r.dialect ? dialectJson(r.dialect) : null,
    components: {
      unet: u
        ? {
            ...component(u.node),
            params: u.facts.paramCount,
            parts: u.facts.parts,
            input_shape: u.facts.inputShape,
            output_shape: u.facts.outputShape,
            attention_resolutions: uniq(u.facts.attention.map((a) => a.resolution[0])),
            attention: u.facts.attention.map((a) => ({ block: a.block, path: a.path, resolution: a.resolution, channels: a.channels, heads: a.heads, head_channels: a.headChannels, kind: a.kind })),
            flops: u.facts.flops,
          }
        : null,
      first_stage: fs
        ? {
            ...component(fs.node),
            params: fs.facts.paramCount,
            parts: { ...fs.facts.parts },
            latent_shape: fs.facts.latentShape,
            input_shape: fs.facts.inputShape,
            output_shape: fs.facts.outputShape,
            attention_resolutions: uniq(fs.facts.attention.map((a) => a.side)),
            flops: fs.facts.flops,
          }
        : null,
      cond_stage: cs
        ? cs.node
          ? { ...component(cs.node), params: cs.facts?.paramCount ?? null, output: cs.facts?.output ?? null, flops: cs.facts?.flops ?? null, ...(cs.facts?.note ? { note: cs.facts.note } : {}) }
          : { target: cs.sentinel ?? 'none', params: 0, output: null, flops: 0 }
        : null,
      extra_stages: (inf?.extras ?? []).map((e) => ({
        ...component(e.node),
        slot: e.slot,
        params: e.facts?.paramCount ?? null,
        output: e.facts?.output ?? null,
        flops: e.facts?.flops ?? null,
        ...(e.facts?.note ? { note: e.facts.note } : {}),
      })),
      plugin_parts: (inf?.pluginParts ?? []).map((p) => ({ ...component(p.node), slot: p.slot, plugin: p.node.spec.plugin?.file ?? null, params: p.paramCount ?? null })),
    },
    model: g?.model
      ? {
          target: g.model.target,
          params: inf?.totalParams ?? null,
          params_unknown: [...(inf?.unknownParams ?? [])],
          conditioning_key: modelIsFirstStage || modelIsUNet ? null : inf?.conditioningKey ?? null,
          input_shape: modelIsFirstStage ? fs?.facts.inputShape ?? null : u?.facts.inputShape ?? null,
          output_shape: modelIsFirstStage ? fs?.facts.outputShape ?? null : u?.facts.outputShape ?? null,
        }
      : null,
    effective_learning_rate: inf?.learningRate?.value ?? null,
    learning_rate: inf?.learningRate ?? null,
    memory: inf?.memory ?? null,
  };
}

// ------------------------------------------------------------------ text summary

const fmtInt = (n: number) => n.toLocaleString('en-US');
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

export function fmtBytes(b: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i++;
  }
  return `${b.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

export function fmtFlops(f: number): string {
  if (f >= 1e12) return `${(f / 1e12).toFixed(2)} TFLOP`;
  if (f >= 1e9) return `${(f / 1e9).toFixed(2)} GFLOP`;
  if (f >= 1e6) return `${(f / 1e6).toFixed(2)} MFLOP`;
  return `${f} FLOP`;
}

export function formatSummary(j: InspectJson): string {
  const rows: [string, string, string, string][] = [];
  const c = j.components;
  if (c.unet) rows.push(['unet', short(c.unet.target), fmtInt(c.unet.params ?? 0), `${shape(c.unet.input_shape)} → ${shape(c.unet.output_shape)}`]);
  if (c.first_stage) {
    rows.push(['first_stage', short(c.first_stage.target), fmtInt(c.first_stage.params ?? 0), `${shape(c.first_stage.input_shape)} → latent ${shape(c.first_stage.latent_shape)}`]);
    for (const [k, v] of Object.entries(c.first_stage.parts)) rows.push([`  ${k}`, '', fmtInt(v), '']);
  }
  if (c.cond_stage) rows.push(['cond_stage', short(c.cond_stage.target), c.cond_stage.params === null ? 'unknown' : fmtInt(c.cond_stage.params), condOut(c.cond_stage.output)]);
  for (const e of c.plugin_parts) rows.push([e.slot.replace(/_config$/, ''), short(e.target), e.params === null ? 'unknown' : fmtInt(e.params), e.plugin ? `plugin ${e.plugin}` : '']);
  for (const e of c.extra_stages) rows.push([e.slot.replace(/_config$/, ''), short(e.target), e.params === null ? 'unknown' : fmtInt(e.params), condOut(e.output)]);
  if (j.model) {
    const partial = j.model.params_unknown.length > 0;
    const count = j.model.params === null ? '?' : `${partial ? '≥ ' : ''}${fmtInt(j.model.params)}`;
    rows.push(['total', short(j.model.target), count, j.model.conditioning_key ? `conditioning: ${j.model.conditioning_key}` : c.unet && c.first_stage ? 'unconditional' : '']);
  }
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length), 0));
  const lines = [`${j.files.join(' + ')}`];
  if (j.dialect) lines.push(`  dialect      ${j.dialect.dialect} (${j.dialect.repository})${j.dialect.given ? ', from --dialect' : j.dialect.accepted.length > 1 ? `; also read by ${j.dialect.accepted.slice(1).join(', ')}` : ''}`);
  for (const r of rows) lines.push(`  ${r[0].padEnd(w[0]!)}  ${r[1].padEnd(w[1]!)}  ${r[2].padStart(w[2]!)}  ${r[3]}`.trimEnd());
  if (c.unet) {
    const at = c.unet.attention_resolutions.map((r) => `${r}×${r}`).join(', ') || 'none';
    lines.push(`  attention    UNet at ${at}${c.first_stage ? `; first stage at ${c.first_stage.attention_resolutions.map((r) => `${r}×${r}`).join(', ') || 'none'}` : ''}`);
  } else if (c.first_stage) {
    lines.push(`  attention    ${c.first_stage.attention_resolutions.map((r) => `${r}×${r}`).join(', ') || 'none'}`);
  }
  const fl: string[] = [];
  if (c.unet) fl.push(`UNet step ${fmtFlops(c.unet.flops)}`);
  if (c.first_stage) fl.push(`encode ${fmtFlops(c.first_stage.flops.encode)}`, `decode ${fmtFlops(c.first_stage.flops.decode)}`);
  if (c.cond_stage?.flops) fl.push(`cond ${fmtFlops(c.cond_stage.flops)}`);
  if (fl.length) lines.push(`  FLOPs        ${fl.join(' · ')} (per sample)`);
  if (j.model?.params_unknown.length) {
    lines.push(`  partial      the total leaves out what ldmc cannot count from the config:`);
    for (const u of j.model.params_unknown) lines.push(`                 ${u}`);
  }
  if (j.memory) {
    const m = j.memory;
    lines.push(
      `  memory       ${fmtBytes(m.totalBytes)} to train at batch ${m.batchSize}: weights ${fmtBytes(m.weightsBytes)}, grads ${fmtBytes(m.gradientsBytes)}, Adam ${fmtBytes(m.optimizerBytes)}${m.emaBytes ? `, EMA ${fmtBytes(m.emaBytes)}` : ''}, activations ${fmtBytes(m.activationsBytes)}`,
    );
  }
  if (j.learning_rate) {
    const l = j.learning_rate;
    lines.push(`  lr           ${fmtLr(l.value)} = ${l.accumulateGradBatches} (accumulate_grad_batches) × ${l.ngpu} (gpus) × ${l.batchSize} (batch_size) × ${fmtLr(l.base)} (base_learning_rate)`);
  }
  return lines.join('\n');
}

export function fmtLr(x: number): string {
  // Python's repr-like short form: 9.6e-05, 0.0001.
  const s = x.toPrecision(12).replace(/\.?0+(e|$)/, '$1');
  const n = Number(s);
  if (n !== 0 && Math.abs(n) < 1e-4) {
    const [mant, exp] = n.toExponential().split('e');
    const e = Number(exp);
    return `${mant}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(n);
}

function short(t: string): string {
  return t.startsWith('__') ? t : t.split('.').pop()!;
}

function condOut(o: unknown): string {
  if (!o || typeof o !== 'object') return '';
  const x = o as { kind: string; shape?: number[] | null; width?: number };
  if (x.kind === 'tokens') return `context ${shape(x.shape!)}`;
  if (x.kind === 'spatial') return `feature map ${shape(x.shape!)}`;
  if (x.kind === 'vector') return `vector [${x.width}]`;
  if (x.kind === 'unknown') return 'output unknown';
  return 'passes its input through';
}

// ------------------------------------------------------------------ artefacts

/** Name of the generated folder: the file's base name, or its folder for `…/config.yaml`. */
export function defaultName(file: string): string {
  const f = file.replace(/\\/g, '/');
  const base = basename(f).replace(/\.(ya?ml|ts|json)$/i, '').replace(/\.config$/, '');
  const name = base === 'config' ? basename(dirname(f)) : base;
  return name.replace(/[^A-Za-z0-9_-]+/g, '-');
}

export function graphJson(r: CompileResult): unknown {
  const g = r.graph;
  return {
    $schema: 'ldmc-graph/1',
    files: r.files,
    nodes: (g?.nodes ?? []).map((n) => ({
      path: n.path,
      role: n.role,
      target: n.target,
      ...(n.written !== n.target ? { written: n.written } : {}),
      source: { file: n.targetSpan.file, line: n.targetSpan.line, col: n.targetSpan.col },
      params: publicParams(n),
      children: Object.fromEntries([...n.children].map(([k, c]) => [k, c === null ? null : typeof c === 'string' ? c : c.path])),
    })),
    base_learning_rate: g?.baseLearningRate ?? null,
    trainer: g?.trainer ?? {},
    // Diagnostics stay out: they depend on the machine (a ckpt_path that exists here or not).
    facts: { ...inspectJson(r), diagnostics: undefined },
  };
}

export type FileMap = Map<string, string>;

export function emitArtifacts(r: CompileResult, name: string): FileMap {
  const out: FileMap = new Map();
  out.set(`${name}/graph.json`, JSON.stringify(graphJson(r), null, 2) + '\n');
  return out;
}


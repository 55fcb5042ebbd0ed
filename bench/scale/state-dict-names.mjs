#!/usr/bin/env node
// Prints the names, shapes and kinds of the state_dict that the reference's LatentDiffusion (or
// an autoencoder) of a config has, as JSON lines, without allocating any weight: what
// bench/scale/make_ckpt.py turns into a PyTorch-made checkpoint with random values.
// Usage: node bench/scale/state-dict-names.mjs CONFIG [--part full|first_stage] [--set K=V ...]
import { existsSync, readFileSync } from 'node:fs';
import { compile } from '../../dist/compiler/program.js';
import { resolvedNode } from '../../dist/compiler/resolved.js';
import { initBackend } from '../../dist/runtime/backend.js';
import { LatentDiffusion } from '../../dist/runtime/diffusion/latent-diffusion.js';
import { SCHEDULE_BUFFER_NAMES } from '../../dist/runtime/diffusion/schedule.js';
import { torchShape } from '../../dist/runtime/weights/state-dict.js';

const args = process.argv.slice(2);
const config = args[0];
let part = 'full';
const overrides = [];
for (let i = 1; i < args.length; i++) {
  if (args[i] === '--part') part = args[++i];
  else if (args[i] === '--set') overrides.push(args[++i]);
}
await initBackend({ backend: 'cpu', quiet: true });
const r = compile({ files: [config], overrides }, { readFile: (p) => readFileSync(p, 'utf8'), fileExists: existsSync });
if (r.hasErrors) throw new Error(`config has errors: ${r.diagnostics.map((d) => d.message).join('; ')}`);
// Zero-initialised: on the cpu backend a zero tensor is an untouched mapping, so nothing is spent.
const ld = new LatentDiffusion(resolvedNode(r.graph.model).params, { zeroInit: true });
const out = [];
const params = (m, prefix) => { for (const p of m.paramEntries()) out.push([prefix + p.name, torchShape(p.variable.shape, p.layout), 'param']); };
if (part === 'first_stage') {
  params(ld.first_stage_model, '');
} else {
  for (const n of SCHEDULE_BUFFER_NAMES) out.push([n, [ld.ddpm.numTimesteps], 'schedule']);
  params(ld.model, 'model.');
  params(ld.first_stage_model, 'first_stage_model.');
  if (ld.cond_stage_model) params(ld.cond_stage_model, 'cond_stage_model.');
  if (ld.ema) {
    for (const b of ld.ema.buffers()) {
      out.push([`model_ema.${b.name}`, torchShape(b.tensor.shape, b.layout), b.name === 'num_updates' ? 'int' : b.name === 'decay' ? 'decay' : 'param']);
    }
  }
}
process.stdout.write(JSON.stringify(out) + '\n');

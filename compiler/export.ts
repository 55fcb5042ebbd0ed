// `ldmc export --to ldm`: the merged, resolved, validated config written back in the reference's
// own format (`model: {base_learning_rate, target, params}`, `data`, `lightning`), ready for
// `main.py --base resolved.yaml`. Pure: returns the text and the notes to print; the CLI writes.
import { stringify as yamlStringify } from 'yaml';
import type { CompileResult } from './program.js';
import { resolvedConfig, resolvedNode } from './resolved.js';

export type ExportFormat = 'ldm';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['ldm'];

export interface ExportOutput {
  /** The YAML text. */
  readonly text: string;
  /** Targets main.py cannot import (ldmc's own), with the config path that uses them. */
  readonly ldmcOnly: readonly { readonly path: string; readonly target: string }[];
}

/** The config as the reference reads it. Call only on a result without errors. */
export function exportConfig(r: CompileResult, to: ExportFormat = 'ldm'): ExportOutput {
  if (to !== 'ldm') throw new Error(`unknown export format '${String(to)}'`);
  if (!r.graph || r.hasErrors) throw new Error('exportConfig needs a config without errors');
  const cfg = resolvedConfig(r);
  // main.py also reads `lightning.modelcheckpoint` and `lightning.logger` next to `callbacks`.
  for (const c of r.graph.callbacks) {
    const m = /^lightning\.([^.]+)$/.exec(c.path);
    if (!m) continue;
    const l = (cfg.lightning ??= {}) as Record<string, unknown>;
    l[m[1]!] = resolvedNode(c);
  }
  const ldmcOnly = r.graph.nodes
    .filter((n) => n.target.startsWith('ldmc.'))
    .map((n) => ({ path: n.path, target: n.target }));
  const header = [
    `# Exported by ldmc from ${r.files.join(' + ')}: merged, interpolated, validated, defaults filled.`,
    '# For the reference: python main.py --base <this file> -t',
    ...ldmcOnly.map((t) => `# warning: ${t.path} uses ${t.target}, which main.py cannot import`),
  ];
  const body = yamlStringify(cfg, { lineWidth: 0, aliasDuplicateObjects: false });
  return { text: `${header.join('\n')}\n${body}`, ldmcOnly };
}

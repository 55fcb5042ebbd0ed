// Finding config files for tests.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every .yaml file under `dir`, recursively, sorted. */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (p.endsWith('.yaml')) out.push(p);
  }
  return out.sort();
}

// Compiles every reference config in ONE process (what `ldmc check` costs across a whole config
// tree). Reads the compiled compiler from dist/ (build first: npx tsc -p .).
//   node bench/check-all.js [--json] [DIR]
// DIR defaults to $LDMC_REFERENCE/ldm-configs, else ../shared/reference/ldm-configs beside the repo.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const t0 = performance.now();
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { compile } = await import(join(repoRoot, 'dist', 'compiler', 'program.js'));
const tImport = performance.now();

const args = process.argv.slice(2);
const json = args.includes('--json');
const dirArg = args.find((a) => !a.startsWith('--'));
const defaultReferenceDir = () =>
  process.env.LDMC_REFERENCE ? join(resolve(process.env.LDMC_REFERENCE), 'ldm-configs') : join(repoRoot, '..', 'shared', 'reference', 'ldm-configs');
const dir = dirArg ? resolve(dirArg) : defaultReferenceDir();
if (!existsSync(dir)) {
  console.error(`check-all: no reference configs at ${dir} (set LDMC_REFERENCE)`);
  process.exit(2);
}

function yamlFiles(d) {
  const out = [];
  for (const e of readdirSync(d)) {
    const p = join(d, e);
    if (statSync(p).isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e)) out.push(p);
  }
  return out.sort();
}

const host = {
  readFile(p) {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e));
    }
  },
  fileExists: (p) => existsSync(p),
};

const files = yamlFiles(dir);
const perConfig = [];
let errors = 0;
for (const f of files) {
  const s = performance.now();
  const r = compile({ files: [f], overrides: [] }, host);
  perConfig.push({ file: relative(dir, f), ms: performance.now() - s, diagnostics: r.diagnostics.length, errors: r.diagnostics.filter((d) => d.severity === 'error').length });
  if (r.hasErrors) errors++;
}
const tEnd = performance.now();
const summary = { dir, configs: files.length, withErrors: errors, importMs: tImport - t0, compileMs: tEnd - tImport, totalMs: tEnd - t0, perConfig };
if (json) console.log(JSON.stringify(summary));
else {
  for (const p of perConfig) console.log(`${p.ms.toFixed(2).padStart(8)} ms  ${p.errors ? 'E' : ' '} ${p.file}`);
  console.log(`${files.length} configs (${errors} with errors): import ${summary.importMs.toFixed(1)} ms, compile ${summary.compileMs.toFixed(1)} ms`);
}

// The ldmc modeline: a comment that names the files a config overrides, so a variant can be
// checked (and edited) on its own: `# ldmc: base=../celeba256.yaml`. Several bases are allowed
// (`base=a.yaml,b.yaml` or several `base=` words, or several modeline comments); they merge left
// to right, and the file itself goes last. Only comment lines before the first YAML content count,
// like editors' own modelines, so a `# ldmc:` further down is plain text.
import { dirname, join, normalize } from 'node:path/posix';

export interface BaseRef {
  /** As written in the modeline. */
  readonly written: string;
  /** Resolved against the folder of the file that names it. */
  readonly path: string;
  /** Offset and length of `written` in the file's text (for diagnostics and go-to-definition). */
  readonly offset: number;
  readonly length: number;
}

const MODELINE = /^#\s*ldmc:(.*)$/;
const BASE_WORD = /\bbase=(\S+)/g;

/** The bases a file's modeline names, in merge order. */
export function readModeline(path: string, text: string): BaseRef[] {
  const out: BaseRef[] = [];
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    const end = nl < 0 ? text.length : nl;
    const line = text.slice(at, end).replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed !== '' && !trimmed.startsWith('#') && trimmed !== '---') break;
    const m = MODELINE.exec(trimmed);
    if (m) {
      const restAt = at + line.indexOf(m[1]!, line.indexOf('ldmc:'));
      for (const w of m[1]!.matchAll(BASE_WORD)) {
        let offset = restAt + w.index! + 'base='.length;
        for (const part of w[1]!.split(',')) {
          if (part !== '') out.push({ written: part, path: resolveBase(path, part), offset, length: part.length });
          offset += part.length + 1;
        }
      }
    }
    at = end + 1;
  }
  return out;
}

/** A base path as written, relative to the folder of the file that names it (always with `/`). */
export function resolveBase(from: string, written: string): string {
  const f = from.replace(/\\/g, '/');
  const w = written.replace(/\\/g, '/');
  if (w.startsWith('/')) return normalize(w);
  const dir = dirname(f);
  const joined = join(dir, w);
  // Keep a relative path relative (the CLI prints paths as the user typed them).
  return dir === '.' && !f.startsWith('./') ? normalize(joined) : joined;
}

// A small, strict argv parser: `--key value`, `--key=value`, repeatable values, boolean flags,
// `--` to end options. Unknown options are usage errors (exit 2), never silently ignored.

export class UsageError extends Error {}

export interface ArgSpec {
  /** Options that take a value; each may repeat (`--set a=1 --set b=2`). */
  readonly values: readonly string[];
  readonly flags: readonly string[];
  /** Short aliases, e.g. { n: 'num' }. */
  readonly short?: Readonly<Record<string, string>>;
}

export interface ParsedArgs {
  readonly positionals: string[];
  readonly values: Partial<Record<string, string[]>>;
  readonly flags: Set<string>;
}

export function parseArgs(argv: readonly string[], spec: ArgSpec): ParsedArgs {
  const out: ParsedArgs = { positionals: [], values: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a !== '-') {
      const isLong = a.startsWith('--');
      let name = isLong ? a.slice(2) : a.slice(1);
      let inline: string | undefined;
      const eq = name.indexOf('=');
      if (eq >= 0) {
        inline = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      if (!isLong) name = spec.short?.[name] ?? name;
      if (spec.values.includes(name)) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`--${name} needs a value`);
        (out.values[name] ??= []).push(v);
      } else if (spec.flags.includes(name)) {
        if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
        out.flags.add(name);
      } else {
        const known = [...spec.values, ...spec.flags].map((k) => `--${k}`).join(', ');
        throw new UsageError(`unknown option '${a}' (options: ${known || 'none'})`);
      }
    } else {
      out.positionals.push(a);
    }
  }
  return out;
}

/** The last value given for `--k` as an integer ≥ min (undefined when absent); anything else is a UsageError. */
export function intOption(a: ParsedArgs, k: string, min: number): number | undefined {
  const v = a.values[k]?.at(-1);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${k} must be an integer ≥ ${min}, not '${v}'`);
  return n;
}

/** The last value given for `--k` as a finite number ≥ min (undefined when absent); anything else is a UsageError. */
export function numberOption(a: ParsedArgs, k: string, min: number): number | undefined {
  const v = a.values[k]?.at(-1);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new UsageError(`--${k} must be a number ≥ ${min}, not '${v}'`);
  return n;
}

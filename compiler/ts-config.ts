// Phase 1 for TS-authored configs (`model.config.ts`): the file is parsed, never run. The TypeScript
// compiler API gives the AST: the copy bundled in ts-morph, which `ldmc compile` already depends on,
// so an install without devDependencies reads .ts configs and `typescript` (23 MB) is not a
// dependency; loaded lazily, only for .ts files, so YAML checks never pay for it; only `export default
// defineConfig(<literal>)` is read, and its argument must be a tree of object/array/string/number/
// boolean/null literals. Anything else (identifiers, calls, spreads, templates with ${}) is LDMC110
// at the offending node. The result is the same ConfigNode tree with spans that YAML gives.
import { createRequire } from 'node:module';
import type { ts as TS } from 'ts-morph';
import { diag, type Reporter, type Span } from './diagnostics.js';
import type { ConfigNode, MapEntry, MapNode } from './tree.js';

let tsModule: typeof TS | undefined;
/** TypeScript (the copy bundled in ts-morph), loaded on first use. */
export function typescript(): typeof TS {
  tsModule ??= (createRequire(import.meta.url)('ts-morph') as { ts: typeof TS }).ts;
  return tsModule;
}

export function isTsConfigPath(path: string): boolean {
  return /\.[cm]?ts$/i.test(path);
}

/** Parses a TS config file into a config tree. Returns undefined (with diagnostics) when unusable. */
export function parseTsConfig(path: string, text: string, ctx: Reporter): MapNode | undefined {
  const ts = typescript();
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const spanOf = (start: number, end: number): Span => {
    const a = sf.getLineAndCharacterOfPosition(start);
    const b = sf.getLineAndCharacterOfPosition(Math.max(start, end));
    return { file: path, line: a.line + 1, col: a.character + 1, endLine: b.line + 1, endCol: b.character + 1, offset: start, length: Math.max(0, end - start) };
  };
  const nodeSpan = (n: TS.Node) => spanOf(n.getStart(sf), n.getEnd());
  const parseErrors = (sf as unknown as { parseDiagnostics?: readonly TS.DiagnosticWithLocation[] }).parseDiagnostics ?? [];
  if (parseErrors.length) {
    for (const e of parseErrors) {
      ctx.report(diag(spanOf(e.start, e.start + e.length), 'TS_config_syntax_error_0', [ts.flattenDiagnosticMessageText(e.messageText, ' ')]));
    }
    return undefined;
  }
  let arg: TS.Expression | undefined;
  for (const st of sf.statements) {
    if (!ts.isExportAssignment(st) || st.isExportEquals) continue;
    const e = unwrap(ts, st.expression);
    if (ts.isCallExpression(e) && ts.isIdentifier(e.expression) && e.expression.text === 'defineConfig' && e.arguments.length === 1) {
      arg = e.arguments[0];
    } else {
      ctx.report(diag(nodeSpan(st.expression), 'TS_config_missing_default_export', [], { hint: "write `export default defineConfig({ model: { target: '…', params: { … } } })`" }));
      return undefined;
    }
  }
  if (!arg) {
    ctx.report(diag(spanOf(0, Math.min(1, text.length)), 'TS_config_missing_default_export', [], { hint: "add `import { defineConfig } from 'ldmc';` and `export default defineConfig({ model: { … } })`" }));
    return undefined;
  }
  let ok = true;
  const refuse = (n: TS.Node, what: string): undefined => {
    ok = false;
    ctx.report(diag(nodeSpan(n), 'TS_config_only_literals_0', [what], { hint: 'write the value out: nothing in a config is executed, so names, calls and spreads cannot be evaluated' }));
    return undefined;
  };
  const convert = (raw: TS.Expression): ConfigNode | undefined => {
    const n = unwrap(ts, raw);
    const span = nodeSpan(n);
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return { kind: 'scalar', value: n.text, span };
    if (ts.isNumericLiteral(n)) return number(n.getText(sf), 1, span);
    if (ts.isPrefixUnaryExpression(n) && (n.operator === ts.SyntaxKind.MinusToken || n.operator === ts.SyntaxKind.PlusToken) && ts.isNumericLiteral(n.operand)) {
      return number(n.operand.getText(sf), n.operator === ts.SyntaxKind.MinusToken ? -1 : 1, span);
    }
    if (n.kind === ts.SyntaxKind.TrueKeyword) return { kind: 'scalar', value: true, span };
    if (n.kind === ts.SyntaxKind.FalseKeyword) return { kind: 'scalar', value: false, span };
    if (n.kind === ts.SyntaxKind.NullKeyword) return { kind: 'scalar', value: null, span };
    if (ts.isArrayLiteralExpression(n)) {
      const items: ConfigNode[] = [];
      for (const it of n.elements) {
        if (ts.isSpreadElement(it)) { refuse(it, 'a spread'); continue; }
        if (ts.isOmittedExpression(it)) { refuse(it, 'an empty array slot'); continue; }
        const c = convert(it);
        if (c) items.push(c);
      }
      return { kind: 'seq', items, span };
    }
    if (ts.isObjectLiteralExpression(n)) {
      const entries = new Map<string, MapEntry>();
      for (const p of n.properties) {
        if (!ts.isPropertyAssignment(p)) {
          refuse(p, ts.isSpreadAssignment(p) ? 'a spread' : ts.isShorthandPropertyAssignment(p) ? `the name '${p.name.text}'` : 'a method or accessor');
          continue;
        }
        const name = p.name;
        const key = ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNumericLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name) ? name.text : undefined;
        if (key === undefined) { refuse(name, 'a computed key'); continue; }
        const keySpan = nodeSpan(name);
        if (entries.has(key)) {
          ok = false;
          ctx.report(diag(keySpan, 'Duplicate_key_0', [key], { hint: 'only one of them would count; remove or rename the other' }));
          continue;
        }
        const value = convert(p.initializer);
        if (value) entries.set(key, { key, keySpan, value });
      }
      return { kind: 'map', entries, span };
    }
    return refuse(n, describe(ts, n));
  };
  const root = convert(arg);
  if (!ok || !root) return undefined;
  if (root.kind !== 'map') {
    ctx.report(diag(root.span, 'Top_level_must_be_a_mapping_not_0', [root.kind === 'seq' ? 'a list' : 'a scalar'], { hint: 'pass an object: defineConfig({ model: { … } })' }));
    return undefined;
  }
  return root;
}

function number(text: string, sign: number, span: Span): ConfigNode {
  const value = sign * Number(text.replace(/_/g, ''));
  const numKind = /[.eE]/.test(text) && !/^0[xob]/i.test(text) ? 'float' : 'int';
  return { kind: 'scalar', value, numKind, span };
}

/** Looks through parentheses, `as const`, `satisfies T` and `x!`: they do not change a literal. */
function unwrap(ts: typeof TS, n: TS.Expression): TS.Expression {
  for (;;) {
    if (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isSatisfiesExpression(n) || ts.isNonNullExpression(n) || ts.isTypeAssertionExpression(n)) n = n.expression;
    else return n;
  }
}

function describe(ts: typeof TS, n: TS.Node): string {
  if (ts.isIdentifier(n)) return `the name '${n.text}'`;
  if (ts.isCallExpression(n) || ts.isNewExpression(n)) return 'a function call';
  if (ts.isTemplateExpression(n)) return 'a template string with ${…}';
  if (ts.isArrowFunction(n) || ts.isFunctionExpression(n)) return 'a function';
  if (ts.isPropertyAccessExpression(n) || ts.isElementAccessExpression(n)) return 'a property access';
  if (ts.isBinaryExpression(n)) return 'an expression';
  return `a ${ts.SyntaxKind[n.kind]}`;
}

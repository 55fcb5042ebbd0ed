// A strict `tsc` in process, as a user's project runs it (strict, module/moduleResolution nodenext,
// ES2022): the generated classes, the type tests and the TS-authored configs must all pass it.
import ts from 'typescript';

export function strictProgram(roots: readonly string[], extra: ts.CompilerOptions = {}): ts.Program {
  return ts.createProgram([...roots], {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts'],
    types: ['node'],
    ...extra,
  });
}

/** `file:line TS1234 message`, one line, for assertion messages. */
export function showTsDiagnostic(d: ts.Diagnostic): string {
  const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : '?';
  return `${d.file?.fileName ?? ''}:${line} TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
}

// The end of an exhaustive switch over an enum or a union: adding a member fails to compile at
// every switch that does not handle it, and a value that escaped validation fails loudly here.
export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(x)}`);
}

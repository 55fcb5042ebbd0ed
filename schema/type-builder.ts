// The TypeBox builders the built-in vocabulary uses, without loading TypeBox.
//
// Why: TypeBox's ESM build is about 200 modules, and importing it was the largest single cost of
// every `ldmc check` (the whole process must stay well under 0.3 s). Our schemas only ever use a
// dozen plain JSON-Schema builders, so this module makes the same objects itself: the same keys in
// the same order, the same `Symbol.for('TypeBox.*')` markers (so TypeBox's own guards, `Value` and
// `Static<>` treat them as TypeBox types). test/schema/type-builder.test.ts compares every builder
// with TypeBox's output. The static types are TypeBox's own (a type-only import, erased at run
// time). The public `Type` that plugin authors get from 'ldmc' is still TypeBox's full builder.
import type { Type as TypeBoxBuilder } from '@sinclair/typebox';

/** The subset of TypeBox's `Type` built here. */
export type TypeBuilder = Pick<
  typeof TypeBoxBuilder,
  'Any' | 'Array' | 'Boolean' | 'Integer' | 'Literal' | 'Null' | 'Number' | 'Object' | 'Optional' | 'Record' | 'String' | 'Union' | 'Unknown' | 'Unsafe'
>;

// TypeBox's markers are registry symbols, shared by every copy of TypeBox in the process.
const Kind = Symbol.for('TypeBox.Kind');
const Hint = Symbol.for('TypeBox.Hint');
const OptionalKind = Symbol.for('TypeBox.Optional');

type Schema = Record<string | symbol, unknown>;
type Options = Record<string | symbol, unknown> | undefined;

// TypeBox's own record-key patterns (type/patterns).
const PatternStringExact = '^(.*)$';
const PatternNumberExact = '^(0|[1-9][0-9]*)$';

/** TypeBox's CreateType under its default instance mode: options first, the schema's keys over them. */
function create(schema: Schema, options: Options): Schema {
  return options !== undefined ? { ...options, ...schema } : schema;
}

function isOptional(s: unknown): boolean {
  return typeof s === 'object' && s !== null && (s as Schema)[OptionalKind] === 'Optional';
}

function object(properties: Record<string, Schema>, options?: Options): Schema {
  const required = Object.keys(properties).filter((k) => !isOptional(properties[k]));
  const schema: Schema = required.length > 0 ? { [Kind]: 'Object', type: 'object', required, properties } : { [Kind]: 'Object', type: 'object', properties };
  return create(schema, options);
}

function optional(schema: Schema, enable?: boolean): Schema {
  if (schema[Kind] === 'MappedResult') throw new Error('type-builder: Optional of a mapped result is not supported; use TypeBox');
  if (enable === false) {
    const { [OptionalKind]: _dropped, ...rest } = schema;
    return create(rest, undefined);
  }
  return create({ ...schema, [OptionalKind]: 'Optional' }, undefined);
}

function union(types: Schema[], options?: Options): Schema {
  if (types.length === 0) return create({ [Kind]: 'Never', not: {} }, options);
  if (types.length === 1) return create(types[0]!, options);
  return create({ [Kind]: 'Union', anyOf: types }, options);
}

/** Record keyed by a string (optionally patterned), a number or an integer, or one literal: the key kinds TypeBox maps without computing key sets. */
function record(key: Schema, value: Schema, options: Options = {}): Schema {
  const fromPattern = (pattern: string) => create({ [Kind]: 'Record', type: 'object', patternProperties: { [pattern]: value } }, options);
  switch (key[Kind]) {
    case 'String':
      return fromPattern(typeof key.pattern === 'string' ? key.pattern : PatternStringExact);
    case 'Integer':
    case 'Number':
      return fromPattern(PatternNumberExact);
    case 'Any':
      return fromPattern(PatternStringExact);
    case 'Literal':
      return object({ [String(key.const)]: value }, { ...options, [Hint]: 'Record' });
    default:
      throw new Error(`type-builder: Record keyed by ${String(key[Kind])} is not supported; use TypeBox`);
  }
}

const builder = {
  Any: (options?: Options) => create({ [Kind]: 'Any' }, options),
  Array: (items: Schema, options?: Options) => create({ [Kind]: 'Array', type: 'array', items }, options),
  Boolean: (options?: Options) => create({ [Kind]: 'Boolean', type: 'boolean' }, options),
  Integer: (options?: Options) => create({ [Kind]: 'Integer', type: 'integer' }, options),
  Literal: (value: string | number | boolean, options?: Options) => create({ [Kind]: 'Literal', const: value, type: typeof value }, options),
  Null: (options?: Options) => create({ [Kind]: 'Null', type: 'null' }, options),
  Number: (options?: Options) => create({ [Kind]: 'Number', type: 'number' }, options),
  Object: object,
  Optional: optional,
  Record: record,
  String: (options?: Options) => create({ [Kind]: 'String', type: 'string' }, options),
  Union: union,
  Unknown: (options?: Options) => create({ [Kind]: 'Unknown' }, options),
  Unsafe: (options: Schema = {}) => create({ [Kind]: options[Kind] ?? 'Unsafe' }, options),
};

/** Drop-in for TypeBox's `Type` where only these builders are used (the static types are TypeBox's). */
export const Type: TypeBuilder = builder as unknown as TypeBuilder;

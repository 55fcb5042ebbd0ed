// schema/type-builder.ts makes the objects TypeBox's builders make (without loading TypeBox, so
// `ldmc check` starts fast). Compared here with TypeBox itself: same keys in the same order (the
// JSON Schema we emit follows that order), same TypeBox symbols, and TypeBox accepts the result.
import { expect } from 'chai';
import { Type as TB, TypeGuard, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Type } from '../../schema/type-builder.js';
import { allTargets } from '../../schema/index.js';
import { bool, child, int, nullable, num, oneOf, opt, str } from '../../schema/types.js';

/** Every own key (symbols too) in order, recursively: a deep comparison that also sees key order. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shape);
  if (typeof v !== 'object' || v === null) return v;
  return Reflect.ownKeys(v).map((k) => [typeof k === 'symbol' ? `@${k.description}` : k, shape((v as Record<string | symbol, unknown>)[k])]);
}

function same(ours: unknown, theirs: unknown): void {
  expect(shape(ours)).to.deep.equal(shape(theirs));
}

describe('schema/type-builder (TypeBox-compatible builders)', function () {
  it('scalar builders match TypeBox, with and without options', function () {
    same(Type.String(), TB.String());
    same(Type.String({ description: 'd', pattern: '^a' }), TB.String({ description: 'd', pattern: '^a' }));
    same(Type.Integer({ description: 'n', minimum: 1 }), TB.Integer({ description: 'n', minimum: 1 }));
    same(Type.Number({ exclusiveMinimum: 0 }), TB.Number({ exclusiveMinimum: 0 }));
    same(Type.Boolean({ description: 'b' }), TB.Boolean({ description: 'b' }));
    same(Type.Null(), TB.Null());
    same(Type.Unknown({ description: 'u' }), TB.Unknown({ description: 'u' }));
    same(Type.Any(), TB.Any());
    same(Type.Literal('x'), TB.Literal('x'));
    same(Type.Literal(3, { description: 'three' }), TB.Literal(3, { description: 'three' }));
    same(Type.Literal(false), TB.Literal(false));
  });

  it('composite builders match TypeBox (arrays, unions of 0, 1 and more, objects, optionals)', function () {
    same(Type.Array(Type.Integer(), { minItems: 1 }), TB.Array(TB.Integer(), { minItems: 1 }));
    same(Type.Union([], { description: 'none' }), TB.Union([], { description: 'none' }));
    same(Type.Union([Type.String()], { description: 'one' }), TB.Union([TB.String()], { description: 'one' }));
    same(Type.Union([Type.String(), Type.Null()], { description: 'two' }), TB.Union([TB.String(), TB.Null()], { description: 'two' }));
    same(Type.Optional(Type.String()), TB.Optional(TB.String()));
    same(Type.Optional(Type.Optional(Type.String()), false), TB.Optional(TB.Optional(TB.String()), false));
    same(Type.Object({ a: Type.String(), b: Type.Optional(Type.Integer()) }, { description: 'o' }), TB.Object({ a: TB.String(), b: TB.Optional(TB.Integer()) }, { description: 'o' }));
    same(Type.Object({ b: Type.Optional(Type.Integer()) }), TB.Object({ b: TB.Optional(TB.Integer()) }));
    same(Type.Object({}), TB.Object({}));
    same(Type.Unsafe({ description: 'c', ldmcChild: { families: ['unet'] } }), TB.Unsafe({ description: 'c', ldmcChild: { families: ['unet'] } }));
    same(Type.Unsafe(), TB.Unsafe());
  });

  it('records match TypeBox for string, patterned, numeric and literal keys', function () {
    same(Type.Record(Type.String(), Type.Unknown(), { description: 'r' }), TB.Record(TB.String(), TB.Unknown(), { description: 'r' }));
    same(Type.Record(Type.String({ pattern: '^k' }), Type.Integer()), TB.Record(TB.String({ pattern: '^k' }), TB.Integer()));
    same(Type.Record(Type.Integer(), Type.String()), TB.Record(TB.Integer(), TB.String()));
    same(Type.Record(Type.Number(), Type.String()), TB.Record(TB.Number(), TB.String()));
    same(Type.Record(Type.Literal('only'), Type.String()), TB.Record(TB.Literal('only'), TB.String()));
    expect(() => Type.Record(Type.Boolean(), Type.String())).to.throw(/not supported/);
  });

  it('the param helpers build what TypeBox would', function () {
    same(int('n', { minimum: 0 }), TB.Integer({ description: 'n', minimum: 0 }));
    same(num('x'), TB.Number({ description: 'x' }));
    same(bool('b'), TB.Boolean({ description: 'b' }));
    same(str('s'), TB.String({ description: 's' }));
    same(oneOf(['a', 'b'], 'pick'), TB.Union([TB.Literal('a'), TB.Literal('b')], { description: 'pick' }));
    same(opt(int('n'), 3), TB.Optional(TB.Unsafe({ ...TB.Integer({ description: 'n' }), default: 3 })));
    const { description, ...rest } = TB.Integer({ description: 'n' });
    same(nullable(int('n')), TB.Union([rest as TSchema, TB.Null()], { description }));
    same(child(['unet'], 'net'), TB.Unsafe({ description: 'net', ldmcChild: { families: ['unet'], sentinels: [] } }));
  });

  it('TypeBox takes every built-in target\'s params as its own schema and validates with it', function () {
    expect(allTargets.length).to.be.greaterThan(50);
    for (const t of allTargets) expect(TypeGuard.IsSchema(t.params), t.id).to.equal(true);
    const s = Type.Object({ a: Type.Integer({ minimum: 1 }), b: Type.Optional(Type.Union([Type.String(), Type.Null()])) });
    expect(Value.Check(s, { a: 2, b: null })).to.equal(true);
    expect(Value.Check(s, { a: 0 })).to.equal(false);
    expect(Value.Check(s, { b: 'x' })).to.equal(false);
  });
});

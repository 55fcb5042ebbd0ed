// data-module.ts: `<Name>DataModule`, the config's main.DataModuleFromConfig as a subclass of the
// runtime's DataModule with batch size, workers, wrap and splits fixed, and one typed batch per
// split. Which keys a split yields and the shape of its images are the dataset target's facts
// (schema/data.ts datasetFacts), never decided here.
import type { SourceFile } from 'ts-morph';
import { datasetFacts, type DataModuleFromConfigParams } from '../schema/data.js';
import { child, type ModelGraph } from './ir.js';
import { runtimeModule, shapedType, type EmitContext, type Emitted } from './emit-ts-parts.js';

type Split = 'train' | 'validation' | 'test' | 'predict';

/** Each split of DataModuleFromConfig, its loader method (runtime/data/loader.ts) and the generated iterator. */
const splits: readonly { split: Split; loader: string; iterate: string; Title: string }[] = [
  { split: 'train', loader: 'trainDataloader', iterate: 'trainBatches', Title: 'Train' },
  { split: 'validation', loader: 'valDataloader', iterate: 'validationBatches', Title: 'Validation' },
  { split: 'test', loader: 'testDataloader', iterate: 'testBatches', Title: 'Test' },
  { split: 'predict', loader: 'predictDataloader', iterate: 'predictBatches', Title: 'Predict' },
];

/** TypeScript type of each batch key (runtime/data/tensors.ts BatchTensors), the image shaped when known. */
function keyType(key: string, imageShape: readonly number[] | null): string {
  switch (key) {
    case 'image':
      return imageShape ? shapedType('Tensor4D', imageShape) : 'Tensor4D';
    case 'class_label':
      return 'Tensor1D';
    default:
      return 'string[]';
  }
}

export function emitDataModule(ctx: EmitContext, g: ModelGraph, configFile: string): { file: SourceFile; emitted: Emitted } | undefined {
  const dm = g.data;
  if (!dm || !dm.valid || !dm.spec.families.includes('data_module')) return undefined;
  const p = dm.params as unknown as DataModuleFromConfigParams;
  const cls = `${ctx.Name}DataModule`;
  const f = ctx.project.createSourceFile('data-module.ts', '');
  const present = splits.flatMap((s) => {
    const n = child(dm, s.split);
    return n ? [{ ...s, node: n, facts: n.valid ? datasetFacts(n.spec, n.params) : undefined }] : [];
  });
  const usesLabel = present.some((s) => s.facts?.keys.includes('class_label'));
  const usesShape = present.some((s) => s.facts?.imageShape);
  f.addImportDeclaration({ isTypeOnly: true, moduleSpecifier: '@tensorflow/tfjs-core', namedImports: [...(usesLabel ? ['Tensor1D'] : []), 'Tensor4D'] });
  f.addImportDeclaration({ moduleSpecifier: runtimeModule(ctx, 'runtime/data/index.js'), namedImports: ['DataModule', 'tensorBatches', 'type DataModuleOptions'] });
  if (usesShape) f.addImportDeclaration({ isTypeOnly: true, moduleSpecifier: runtimeModule(ctx, 'runtime/shaped.js'), namedImports: ['Shaped'] });
  f.addImportDeclaration({ moduleSpecifier: configFile, namedImports: ['config'] });

  const types: string[] = [];
  for (const s of present) {
    const batch = `${ctx.Name}${s.Title}Batch`;
    types.push(batch);
    const keys = s.facts?.keys ?? ['image'];
    const shape = s.facts?.imageShape ?? null;
    f.addInterface({
      isExported: true,
      name: batch,
      docs: [
        `A ${s.split} batch: \`${s.node.target}\` (${ctx.where(s.node)})${shape ? `, images [B, ${shape.join(', ')}] NHWC in [-1, 1]` : ''}.` +
          (s.facts ? '' : `\n\nldmc has no loader for this dataset: only the image is typed.`),
      ],
      properties: keys.map((k) => ({ name: k, type: keyType(k, shape) })),
    });
  }

  const c = f.addClass({
    isExported: true,
    name: cls,
    extends: 'DataModule',
    docs: [`The data module of ${ctx.name}: batch size ${p.batch_size}, ${present.map((s) => s.split).join(' and ') || 'no'} split${present.length === 1 ? '' : 's'}.\n\n\`${dm.target}\`, defined at ${ctx.where(dm)}.`],
  });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'target', initializer: `'${dm.target}'` });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'batchSize', initializer: String(p.batch_size) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'numWorkers', initializer: String(p.num_workers), docs: ['As the config sets it (null: 2 × batch size, capped at the cores less one).'] });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'wrap', initializer: String(p.wrap) });
  c.addProperty({
    isStatic: true,
    isReadonly: true,
    name: 'splits',
    docs: ['Each split\'s dataset target and params (as validated), the batch keys it yields and its image shape [H, W, C].'],
    initializer: `{\n${present
      .map((s) => `  ${s.split}: {\n    target: '${s.node.target}',\n    params: config.data.params.${s.split}.params,\n    keys: [${(s.facts?.keys ?? ['image']).map((k) => `'${k}'`).join(', ')}],\n    imageShape: ${s.facts?.imageShape ? `[${s.facts.imageShape.join(', ')}]` : 'null'},\n  },`)
      .join('\n')}\n} as const`,
  });
  c.addConstructor({
    docs: ['opts: the data root, a seed, a numWorkers override, … (the split configs are fixed).'],
    parameters: [{ name: 'opts', type: 'DataModuleOptions', initializer: '{}' }],
    statements: ['super(config.data.params, opts);'],
  });
  for (const s of present) {
    const batch = `${ctx.Name}${s.Title}Batch`;
    c.addMethod({
      name: s.iterate,
      docs: [`The ${s.split} loader's batches as tensors (one epoch unless opts.epochs); the caller disposes each (disposeBatch).`],
      returnType: `AsyncGenerator<${batch}>`,
      statements: [`const s = ${cls}.splits.${s.split};`, `return tensorBatches<${batch}>(this.${s.loader}(), s.keys, s.imageShape);`],
    });
  }
  return { file: f, emitted: { role: 'data', cls, base: 'DataModule', file: 'data-module.ts', types } };
}

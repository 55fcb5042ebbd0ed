// model.ts: the config's model as one class named by its kind (`<Name>LatentDiffusion`,
// `<Name>VQModel`, `<Name>AutoencoderKL`, …). A diffusion wrapper is wired from the generated
// component classes and carries the schedule as static literals; its methods take and return
// tensors of the literal shapes the compiler inferred (runtime/shaped.ts), checked at run time.
// An autoencoder config's wrapper is its first stage plus the model-level facts.
import type { SourceFile } from 'ts-morph';
import { assertNever } from '../schema/family.js';
import { Sentinel, type Parameterization } from '../schema/index.js';
import { hwc, runtimeModule, shapedPattern, shapedType, tuple, type EmitContext, type Emitted } from './emit-ts-parts.js';
import type { Inference } from './infer.js';
import { className, type IRNode } from './ir.js';

/** Where a model target's runtime class lives (the wrappers ldmc generates). */
export interface RuntimeClass {
  readonly module: string;
  readonly base: string;
  /** The base's static method that maps the params to its constructor's argument (RuntimeRef.args). */
  readonly args?: string;
}

interface Parts {
  readonly unet?: Emitted;
  readonly firstStage?: Emitted;
  readonly condStage?: Emitted;
}

/** The raw input of a cond stage (what getLearnedConditioning takes), from its spec. */
function condInputType(n: IRNode): { type: string; doc: string } {
  const st = n.spec.statics;
  if (st?.family !== 'cond_stage') throw new Error(`${n.target} is not a conditioning stage`);
  return st.input;
}

export function emitWrapper(ctx: EmitContext, model: IRNode | undefined, inf: Inference, parts: Parts, rt: RuntimeClass | undefined): { file: SourceFile; emitted: Emitted } | undefined {
  if (!model || !model.valid) return undefined;
  const fs = inf.firstStage;
  if (fs && fs.node === model && parts.firstStage) return autoencoderWrapper(ctx, model, fs.facts, parts.firstStage);
  if (rt && inf.unet && fs && parts.unet && parts.firstStage && inf.unet.node !== model) return diffusionWrapper(ctx, model, inf, parts, rt);
  return undefined;
}

function autoencoderWrapper(ctx: EmitContext, model: IRNode, facts: NonNullable<Inference['firstStage']>['facts'], fsCls: Emitted): { file: SourceFile; emitted: Emitted } {
  const cls = `${ctx.Name}${className(model)}`;
  const img = hwc(facts.inputShape), out = hwc(facts.outputShape);
  const f = ctx.project.createSourceFile('model.ts', '');
  f.addImportDeclaration({ moduleSpecifier: '@tensorflow/tfjs-core', namedImports: [facts.kind === 'kl' ? 'tidy' : 'dispose', 'type Tensor4D'] });
  f.addImportDeclaration({ moduleSpecifier: runtimeModule(ctx, 'runtime/shaped.js'), namedImports: ['shaped', 'type Shaped'] });
  f.addImportDeclaration({ moduleSpecifier: `./${fsCls.file.replace(/\.ts$/, '.js')}`, namedImports: [fsCls.cls] });
  const Images = `${ctx.Name}Images`;
  f.addTypeAlias({ isExported: true, name: Images, type: shapedType('Tensor4D', img), docs: [`Images of ${ctx.name}: [B, ${img.join(', ')}] NHWC in [-1, 1].`] });
  const c = f.addClass({
    isExported: true,
    name: cls,
    extends: fsCls.cls,
    docs: [`The model of ${ctx.name}: the ${facts.kind === 'kl' ? 'KL' : 'VQ'} autoencoder trained on its own (its module is ${fsCls.cls}).\n\n\`${model.target}\`, defined at ${ctx.where(model)}.`],
  });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'imageShape', type: tuple(facts.inputShape), initializer: `[${facts.inputShape.join(', ')}]`, docs: ['[C, H, W] of the images it encodes.'] });
  c.addMethod({
    name: 'reconstruct',
    docs: [`x: [B, ${img.join(', ')}] → its reconstruction [B, ${out.join(', ')}]${facts.kind === 'kl' ? ' (through the posterior mode)' : ' (through the codebook)'}.`],
    parameters: [{ name: 'x', type: Images }],
    returnType: shapedType('Tensor4D', out),
    statements: [
      facts.kind === 'kl'
        ? 'const dec = tidy(() => {\n  const { dec, posterior } = this.forward(x, false);\n  posterior.dispose();\n  return dec;\n});'
        : 'const { dec, diff, indices } = this.forward(x);\ndispose([diff, indices]);',
      `return shaped(dec, ${shapedPattern(out)}, 'reconstruct output');`,
    ],
  });
  return { file: f, emitted: { role: 'model', cls, base: fsCls.cls, file: 'model.ts', types: [Images] } };
}

function diffusionWrapper(ctx: EmitContext, model: IRNode, inf: Inference, parts: Parts, rt: RuntimeClass): { file: SourceFile; emitted: Emitted } {
  const cls = `${ctx.Name}${className(model)}`;
  const fs = inf.firstStage!;
  const p = model.params;
  // The model diffuses image_size × image_size latents (what sampling draws), whatever resolution
  // the first stage's own config records: SD's VAE says 256 while SD samples 64×64 latents, i.e.
  // 512×512 images. The autoencoder is convolutional, so the images are the latents × its factor.
  const side = typeof p.image_size === 'number' ? p.image_size : fs.facts.latentShape[1];
  const px = side * fs.facts.downsamplingFactor;
  const latentShape = [fs.facts.latentShape[0], side, side] as const;
  const imageShape = [fs.facts.outputShape[0], px, px] as const;
  const latent = hwc(latentShape), img = hwc(imageShape), input = hwc([fs.facts.inputShape[0], px, px]);
  const Latents = `${ctx.Name}Latents`, Images = `${ctx.Name}Images`, Cond = `${ctx.Name}Conditioning`, SampleOpts = `${ctx.Name}SampleOptions`;
  const key = inf.conditioningKey;
  const cs = inf.condStage;
  const firstStageCond = cs?.sentinel === Sentinel.FirstStage;
  // What getLearnedConditioning takes and gives (tensor + NHWC dims, when known); undefined for an unconditional model.
  let cond: { input: string; inputDoc: string; tensor: string; dims: number[] | undefined; outputDoc: string } | undefined;
  if (key !== null) {
    if (firstStageCond) cond = { input: Images, inputDoc: `images [B, ${input.join(', ')}]`, tensor: 'Tensor4D', dims: latent, outputDoc: `latents [B, ${latent.join(', ')}]` };
    else if (cs?.facts && cs.node) {
      const i = condInputType(cs.node);
      const o = cs.facts.output;
      if (o.kind === 'tokens') cond = { input: i.type, inputDoc: i.doc, tensor: 'Tensor3D', dims: [...o.shape], outputDoc: `context [B, ${o.shape.join(', ')}]` };
      else if (o.kind === 'spatial') cond = { input: i.type, inputDoc: i.doc, tensor: 'Tensor4D', dims: hwc(o.shape), outputDoc: `maps [B, ${hwc(o.shape).join(', ')}]` };
      else cond = { input: i.type, inputDoc: i.doc, tensor: i.type, dims: undefined, outputDoc: 'the input unchanged' };
    }
  }
  const tfTypes = new Set(['Tensor1D', 'Tensor4D']);
  if (cond) for (const t of [cond.input, cond.tensor]) if (/^Tensor\w*$/.test(t)) tfTypes.add(t);

  const f = ctx.project.createSourceFile('model.ts', '');
  f.addImportDeclaration({ isTypeOnly: true, moduleSpecifier: '@tensorflow/tfjs-core', namedImports: [...tfTypes].sort() });
  f.addImportDeclaration({ moduleSpecifier: runtimeModule(ctx, rt.module), namedImports: [rt.base, 'sampleImages', 'type LatentDiffusionOptions', 'type SampleOptions'] });
  f.addImportDeclaration({ moduleSpecifier: runtimeModule(ctx, 'runtime/shaped.js'), namedImports: ['shaped', 'type Shaped'] });
  f.addImportDeclaration({ moduleSpecifier: './config.js', namedImports: ['config'] });
  for (const e of [parts.unet, parts.firstStage, parts.condStage]) if (e) f.addImportDeclaration({ moduleSpecifier: `./${e.file.replace(/\.ts$/, '.js')}`, namedImports: [e.cls] });

  const types = [Latents, Images];
  f.addTypeAlias({ isExported: true, name: Latents, type: shapedType('Tensor4D', latent), docs: [`Latents of ${ctx.name}: [B, ${latent.join(', ')}] NHWC, times scale_factor (what the UNet denoises).`] });
  f.addTypeAlias({ isExported: true, name: Images, type: shapedType('Tensor4D', img), docs: [`Images of ${ctx.name}: [B, ${img.join(', ')}] NHWC in [-1, 1].`] });
  if (cond && !firstStageCond) {
    f.addTypeAlias({ isExported: true, name: Cond, type: cond.dims ? shapedType(cond.tensor, cond.dims) : cond.tensor, docs: [`The learned conditioning of ${ctx.name} (conditioning_key '${key}'): ${cond.outputDoc}.`] });
    types.push(Cond);
  }
  const condType = cond ? (firstStageCond ? Latents : Cond) : undefined;
  const sampleDoc = `sample()'s options: the sampler settings of runtime/diffusion/sample.ts${cond ? `, with the raw conditioning (${cond.inputDoc})` : ''}.`;
  if (cond) {
    f.addInterface({
      isExported: true,
      name: SampleOpts,
      extends: ["Omit<SampleOptions, 'cond' | 'uncond'>"],
      docs: [sampleDoc],
      properties: [
        { name: 'cond', isReadonly: true, type: cond.input, docs: [`The conditioning input of every sample: ${cond.inputDoc}.`] },
        { name: 'uncond', isReadonly: true, hasQuestionToken: true, type: cond.input, docs: ['The unconditional input for classifier-free guidance (needed when scale is not 1).'] },
      ],
    });
  } else f.addTypeAlias({ isExported: true, name: SampleOpts, type: "Omit<SampleOptions, 'cond' | 'uncond' | 'scale'>", docs: [sampleDoc] });
  types.push(SampleOpts);

  const c = f.addClass({
    isExported: true,
    name: cls,
    extends: rt.base,
    docs: [
      `The ${className(model)} of ${ctx.name}: ${parts.unet!.cls} on the [${latentShape.join(', ')}] latents of ${parts.firstStage!.cls}` +
        `${parts.condStage ? `, conditioned by ${parts.condStage.cls} (${key})` : key === null ? ', unconditional' : ` (${key})`}.\n\n\`${model.target}\`, defined at ${ctx.where(model)}${inf.totalParams !== undefined ? ` — ${inf.totalParams.toLocaleString('en-US')} parameters` : ''}.`,
    ],
  });
  const lit = (v: unknown) => (typeof v === 'string' ? `'${v}'` : String(v));
  c.addProperty({ isStatic: true, isReadonly: true, name: 'target', initializer: `'${model.target}'` });
  if (inf.totalParams !== undefined) c.addProperty({ isStatic: true, isReadonly: true, name: 'paramCount', initializer: String(inf.totalParams) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'timesteps', initializer: lit(p.timesteps), docs: ['Diffusion steps T.'] });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'betaSchedule', initializer: lit(p.beta_schedule) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'linearStart', initializer: lit(p.linear_start) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'linearEnd', initializer: lit(p.linear_end) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'scaleFactor', initializer: lit(p.scale_factor), docs: [`Latents are multiplied by this${p.scale_by_std ? ' (until scale_by_std measures the first batch: see the instance\'s scaleFactor)' : ''}.`] });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'parameterization', initializer: lit(p.parameterization), docs: ['What the UNet predicts.'] });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'conditioningKey', initializer: key === null ? 'null' : lit(key) });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'latentShape', type: tuple(latentShape), initializer: `[${latentShape.join(', ')}]`, docs: ['[C, H, W] of the latents (image_size × image_size).'] });
  c.addProperty({ isStatic: true, isReadonly: true, name: 'imageShape', type: tuple(imageShape), initializer: `[${imageShape.join(', ')}]`, docs: ['[C, H, W] of the decoded images.'] });
  c.addProperty({ hasDeclareKeyword: true, isReadonly: true, name: 'first_stage_model', type: parts.firstStage!.cls });
  if (parts.condStage) c.addProperty({ hasDeclareKeyword: true, isReadonly: true, name: 'cond_stage_model', type: parts.condStage.cls });
  const components = [
    `unet: () => new ${parts.unet!.cls}()`,
    `firstStage: () => new ${parts.firstStage!.cls}()`,
    ...(parts.condStage ? [`condStage: () => new ${parts.condStage.cls}()`] : []),
  ];
  c.addConstructor({
    docs: ['opts.zeroInit: zero weights (they are loaded next). The children are the generated classes.'],
    parameters: [{ name: 'opts', type: "Omit<LatentDiffusionOptions, 'components'>", initializer: '{}' }],
    statements: [`super(config.model.params, { ...opts, components: { ${components.join(', ')} } });`],
  });
  c.addGetAccessor({ name: 'unet', returnType: parts.unet!.cls, docs: ['The UNet (model.diffusion_model).'], statements: [`return this.model.diffusion_model as ${parts.unet!.cls};`] });

  const params = [
    { name: 'x', type: Latents },
    { name: 't', type: 'Tensor1D' },
    ...(condType ? [{ name: 'cond', type: condType }] : []),
  ];
  c.addMethod({
    name: 'applyModel',
    hasOverrideKeyword: true,
    docs: [`The UNet's ${predictionWords(p.parameterization as Parameterization)} prediction for latents x at timesteps t [B]${condType ? ' under the learned conditioning' : ''}.`],
    parameters: params,
    returnType: Latents,
    statements: [`return shaped(super.applyModel(${params.map((q) => q.name).join(', ')}), ${shapedPattern(latent)}, 'applyModel output');`],
  });
  c.addMethod({
    name: 'encodeFirstStage',
    hasOverrideKeyword: true,
    docs: [`Images [B, ${input.join(', ')}] → latents [B, ${latent.join(', ')}] (times scale_factor).`],
    parameters: [{ name: 'x', type: input.join() === img.join() ? Images : shapedType('Tensor4D', input) }, { name: 'eps', type: 'Tensor4D', hasQuestionToken: true }],
    returnType: Latents,
    statements: [`return shaped(super.encodeFirstStage(x, eps), ${shapedPattern(latent)}, 'encodeFirstStage output');`],
  });
  c.addMethod({
    name: 'decodeFirstStage',
    hasOverrideKeyword: true,
    docs: [`Latents [B, ${latent.join(', ')}] → images [B, ${img.join(', ')}].`],
    parameters: [{ name: 'z', type: Latents }],
    returnType: Images,
    statements: [`return shaped(super.decodeFirstStage(z), ${shapedPattern(img)}, 'decodeFirstStage output');`],
  });
  if (cond) {
    c.addMethod({
      name: 'getLearnedConditioning',
      hasOverrideKeyword: true,
      docs: [`${cond.inputDoc} → ${cond.outputDoc}.`],
      parameters: [{ name: 'c', type: cond.input }],
      returnType: condType!,
      statements: [cond.dims ? `return shaped(super.getLearnedConditioning(c) as ${cond.tensor}, ${shapedPattern(cond.dims)}, 'getLearnedConditioning output');` : `return super.getLearnedConditioning(c) as ${cond.tensor};`],
    });
  }
  c.addMethod({
    name: 'sample',
    docs: [`Draws o.batchSize images [B, ${img.join(', ')}] (DDIM by default; runtime/diffusion/sample.ts). The caller owns the result.`],
    parameters: [{ name: 'o', type: SampleOpts }],
    returnType: Images,
    statements: cond
      ? [
          'const c = this.getLearnedConditioning(o.cond);',
          'const uc = o.uncond === undefined ? undefined : this.getLearnedConditioning(o.uncond);',
          'try {',
          `  return shaped(sampleImages(this, { ...o, cond: c, ...(uc ? { uncond: uc } : {}) }), ${shapedPattern(img)}, 'sample output');`,
          '} finally {',
          '  c.dispose();',
          '  uc?.dispose();',
          '}',
        ]
      : [`return shaped(sampleImages(this, o), ${shapedPattern(img)}, 'sample output');`],
  });
  return { file: f, emitted: { role: 'model', cls, base: rt.base, file: 'model.ts', types } };
}

/** What the UNet's output is, in words, per parameterization. */
function predictionWords(p: Parameterization): string {
  switch (p) {
    case 'eps':
      return 'noise';
    case 'x0':
      return 'x₀';
    case 'v':
      return 'v (√ᾱ·ε − √(1−ᾱ)·x₀)';
    default:
      return assertNever(p, 'parameterization');
  }
}

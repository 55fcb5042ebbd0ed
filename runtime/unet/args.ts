// Constructor arguments of openaimodel.UNetModel: the registry's params type and defaults, so the
// compiler and the runtime cannot disagree on a param.
import { defaultsOf, UNetModelParams as UNetModelParamsSchema, type ReadonlyParams, type UNetModelParams } from '../../schema/index.js';
/** UNetModel's params: the schema's type (schema/unet.ts), with read-only lists. */
export type UNetModelArgs = ReadonlyParams<UNetModelParams>;

export type UNetModelRequired = Pick<UNetModelArgs,
  'image_size' | 'in_channels' | 'model_channels' | 'out_channels' | 'num_res_blocks' | 'attention_resolutions'>;

/** The reference constructor's defaults, as the registry declares them. */
export const UNET_MODEL_DEFAULTS = defaultsOf(UNetModelParamsSchema) as Omit<UNetModelArgs, keyof UNetModelRequired>;

/** Fills the reference's defaults into a config's `params` (undefined and null count as absent where the default is not null). */
export function withUNetDefaults(params: UNetModelRequired & Partial<UNetModelArgs>): UNetModelArgs {
  const out = { ...UNET_MODEL_DEFAULTS, ...params } as UNetModelArgs;
  for (const [k, v] of Object.entries(UNET_MODEL_DEFAULTS)) {
    const key = k as keyof typeof UNET_MODEL_DEFAULTS;
    if (out[key] === undefined) (out as unknown as Record<string, unknown>)[key] = v;
  }
  return out;
}

// The dialect names on their own (a leaf): schema/facts/results.ts needs the type, and schema/types.ts
// (which re-exports it) imports the facts result types through schema/family.ts.
/** 'ldm' = CompVis/latent-diffusion, 'sd1' = CompVis/stable-diffusion, 'sd2' = Stability-AI/stablediffusion. */
export type Dialect = 'ldm' | 'sd1' | 'sd2';

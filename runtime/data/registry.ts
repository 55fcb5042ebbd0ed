// Dataset targets → loaders. The ids (and aliases, defaults) are schema/data.ts's; the ldmc.data.*
// targets are ldmc's own (image folder, MNIST/Fashion-MNIST). Params arrive as the compiler
// filled them; defaults are filled again here for callers that skip the compiler.
import type { TObject } from '@sinclair/typebox';
import { dataTargets } from '../../schema/data.js';
import { closest } from '../../schema/suggest.js';
import type { Dataset, DatasetSpec } from './dataset.js';
import { DataError } from './errors.js';
import { FacesDataset, type FacesParams, type FacesSplit } from './faces.js';
import { ImageFolder, type ImageFolderParams } from './image-folder.js';
import { ImageNetDataset, type ImageNetParams, type ImageNetSplit } from './imagenet.js';
import { MnistDataset, type MnistParams } from './idx.js';
import { LSUNBase, lsunDataset, type LSUNBaseParams, type LSUNSplit } from './lsun.js';

export interface CreateDatasetOptions {
  /**
   * The folder that replaces the reference's `data/` (list files and image roots of the faces,
   * LSUN and ImageNet targets; MNIST's default root is `<dataRoot>/mnist`). Default: `data`.
   */
  dataRoot?: string;
}

type Params = Record<string, unknown>;
type Factory = (p: Params, dataRoot: string, spec: DatasetSpec) => Dataset;

interface ParamRule {
  default?: unknown;
}

const faces = (split: FacesSplit): Factory => (p, root, spec) => new FacesDataset(split, p as unknown as FacesParams, root, spec);
const lsun = (split: LSUNSplit): Factory => (p, root, spec) => lsunDataset(split, p as Omit<LSUNBaseParams, 'txt_file' | 'data_root'>, root, spec);
const imagenet = (split: ImageNetSplit): Factory => (p, root, spec) => new ImageNetDataset(split, p as ImageNetParams, root, spec);

const factories: Record<string, Factory> = {
  'taming.data.faceshq.CelebAHQTrain': faces('CelebAHQTrain'),
  'taming.data.faceshq.CelebAHQValidation': faces('CelebAHQValidation'),
  'taming.data.faceshq.FFHQTrain': faces('FFHQTrain'),
  'taming.data.faceshq.FFHQValidation': faces('FFHQValidation'),
  'ldm.data.lsun.LSUNChurchesTrain': lsun('LSUNChurchesTrain'),
  'ldm.data.lsun.LSUNChurchesValidation': lsun('LSUNChurchesValidation'),
  'ldm.data.lsun.LSUNBedroomsTrain': lsun('LSUNBedroomsTrain'),
  'ldm.data.lsun.LSUNBedroomsValidation': lsun('LSUNBedroomsValidation'),
  'ldm.data.lsun.LSUNCatsTrain': lsun('LSUNCatsTrain'),
  'ldm.data.lsun.LSUNCatsValidation': lsun('LSUNCatsValidation'),
  'ldm.data.lsun.LSUNBase': (p, _root, spec) => new LSUNBase(p as unknown as LSUNBaseParams, 'ldm.data.lsun.LSUNBase', spec),
  'ldm.data.imagenet.ImageNetTrain': imagenet('ImageNetTrain'),
  'ldm.data.imagenet.ImageNetValidation': imagenet('ImageNetValidation'),
  'ldmc.data.ImageFolder': (p, root, spec) => new ImageFolder({ ...(p as unknown as ImageFolderParams), root: (p.root as string | null) ?? root }, spec),
  'ldmc.data.FashionMNIST': (p, root, spec) => new MnistDataset('FashionMNIST', p as MnistParams, root, spec),
  'ldmc.data.MNIST': (p, root, spec) => new MnistDataset('MNIST', p as MnistParams, root, spec),
};

/** Every dataset target id `createDataset` loads (canonical ids). */
export const datasetTargetIds: readonly string[] = Object.keys(factories).sort();

const schemaDatasets = dataTargets.filter((t) => t.families.includes('dataset'));

function canonical(id: string): string | undefined {
  if (factories[id]) return id;
  return schemaDatasets.find((t) => t.id === id || t.aliases.includes(id))?.id;
}

/**
 * Builds the dataset a config's `{target, params}` names. Unknown targets, targets the schema
 * knows but ldmc cannot load, unknown or ill-typed params are DataErrors that name the target.
 */
export function createDataset(targetId: string, params: Record<string, unknown> = {}, opts: CreateDatasetOptions = {}): Dataset {
  const id = canonical(targetId);
  if (!id) {
    const guess = closest(targetId, [...datasetTargetIds, ...schemaDatasets.map((t) => t.id)], 8);
    throw new DataError(`unknown dataset target '${targetId}'`, null, guess ? `did you mean '${guess}'?` : `known datasets: ${datasetTargetIds.join(', ')}`);
  }
  const factory = factories[id];
  if (!factory) {
    const spec = schemaDatasets.find((t) => t.id === id);
    throw new DataError(`dataset target '${targetId}' has no loader in ldmc${spec?.note ? ` (${spec.note})` : ''}`, null, `loadable datasets: ${datasetTargetIds.join(', ')}`);
  }
  const filled = fillParams(id, params);
  const dataRoot = opts.dataRoot ?? 'data';
  const spec: DatasetSpec = { target: id, params: filled, ...(opts.dataRoot !== undefined ? { dataRoot: opts.dataRoot } : {}) };
  return factory(filled, dataRoot, spec);
}

/** Fills defaults and checks param names against the schema. */
function fillParams(id: string, params: Params): Params {
  const rules = schemaRules(id);
  const out: Params = {};
  for (const [k, v] of Object.entries(params)) {
    const rule = rules[k];
    if (!rule) {
      const guess = closest(k, Object.keys(rules));
      throw new DataError(`${id}: unknown param '${k}'`, null, guess ? `did you mean '${guess}'?` : `params: ${Object.keys(rules).join(', ') || '(none)'}`);
    }
    out[k] = v;
  }
  for (const [k, rule] of Object.entries(rules)) {
    if (k in out) continue;
    if (rule.default === undefined) throw new DataError(`${id}: missing required param '${k}'`, null, `set params.${k}`);
    out[k] = rule.default;
  }
  return out;
}

function schemaRules(id: string): Record<string, ParamRule> {
  const t = schemaDatasets.find((s) => s.id === id);
  const props = (t?.params as TObject | undefined)?.properties ?? {};
  const out: Record<string, ParamRule> = {};
  for (const [k, s] of Object.entries(props)) {
    const d = (s as { default?: unknown }).default;
    // Types were checked by the compiler (schema/data.ts is the one definition); here only names and defaults.
    out[k] = d !== undefined ? { default: d } : {};
  }
  return out;
}

// What can be wrong with a weights file (safetensors, or a torch.save zip checkpoint), as data:
// one stable code per fault, a title (what the README lists) and the hint the CLI prints.
// The compiler's message table (compiler/messages.ts) is for configs; these codes live here so
// that runtime/ stays free of compiler/, and test/runtime/weights-faults.test.ts fails unless
// every code below is produced by a real corrupted file. Never renumber a code.

export interface WeightsFault {
  readonly code: string;
  readonly title: string;
  readonly hint: string;
}

const RESAVE = 'the file is damaged: download or copy it again, or re-save it with safetensors.torch.save_file';
const RESAVE_CKPT = 'the file is damaged (an interrupted download or copy?): fetch it again, or re-save it with torch.save';

export const WeightsFaults = {
  cannot_read: { code: 'LDMC600', title: 'the file cannot be read (missing, a directory, no permission)', hint: 'check the path and its permissions' },
  not_weights: {
    code: 'LDMC601', title: 'neither a safetensors file nor a PyTorch checkpoint',
    hint: 'ldmc reads .safetensors and zip-format .ckpt/.pt files (torch ≥ 1.6)',
  },
  header_overrun: { code: 'LDMC602', title: 'safetensors: the header length overruns the file', hint: `${RESAVE} (it looks truncated)` },
  header_json: { code: 'LDMC603', title: 'safetensors: the header is not valid JSON (or not UTF-8)', hint: RESAVE },
  header_not_object: { code: 'LDMC604', title: 'safetensors: the header, a tensor entry or __metadata__ is not a JSON object', hint: RESAVE },
  entry_field: {
    code: 'LDMC605', title: "safetensors: a tensor entry lacks 'dtype', 'shape' or 'data_offsets', or one has the wrong type",
    hint: 'each tensor entry needs "dtype": string, "shape": [int, ...] and "data_offsets": [begin, end]',
  },
  unknown_dtype: {
    code: 'LDMC606', title: 'safetensors: a dtype ldmc does not know',
    hint: 'convert the tensor to one of the listed dtypes (e.g. tensor.float()) before saving; F8 and complex types are not supported',
  },
  offsets_outside: { code: 'LDMC607', title: 'safetensors: data_offsets outside the data section', hint: `${RESAVE} (it looks truncated)` },
  offsets_reversed: { code: 'LDMC608', title: 'safetensors: data_offsets reversed (begin after end)', hint: RESAVE },
  shape_size: { code: 'LDMC609', title: "safetensors: a tensor's shape × dtype size differs from its byte range", hint: RESAVE },
  offsets_overlap: { code: 'LDMC610', title: "safetensors: two tensors' byte ranges overlap", hint: RESAVE },
  i64_range: {
    code: 'LDMC611', title: 'an I64 tensor holds a value beyond 2^53',
    hint: 'ldmc keeps integer tensors as doubles; drop that tensor or store it as a smaller integer type',
  },
  too_large: {
    // Until ldmc read safetensors by positional reads this was "a file over 2 GiB"; files of any
    // size are read now, and the code names the one size that is still a fault.
    code: 'LDMC612', title: 'safetensors: a header length over the format\'s 100 MB limit',
    hint: `${RESAVE} (a header that large is a damaged length field)`,
  },
  legacy_ckpt: {
    code: 'LDMC620', title: 'a legacy (torch < 1.6) checkpoint',
    hint: 're-save it with torch >= 1.6: torch.save(torch.load(f), f2)',
  },
  zip_truncated: { code: 'LDMC621', title: "checkpoint: truncated zip (its end records or central directory are missing or past the file's end)", hint: RESAVE_CKPT },
  zip_entry: { code: 'LDMC622', title: 'checkpoint: a zip entry is truncated or corrupt (data.pkl or a tensor storage)', hint: RESAVE_CKPT },
  zip_crc: { code: 'LDMC623', title: "checkpoint: a zip entry's CRC-32 does not match its bytes", hint: RESAVE_CKPT },
  zip_structure: { code: 'LDMC624', title: 'checkpoint: a malformed zip archive (bad records or fields, unsupported zip features)', hint: RESAVE_CKPT },
  not_torch_archive: {
    code: 'LDMC625', title: 'checkpoint: a zip that is not a torch.save archive (no data.pkl, unknown byteorder)',
    hint: 'ldmc reads archives written by torch.save (<name>/data.pkl plus <name>/data/<key> storages)',
  },
  pickle_corrupt: { code: 'LDMC626', title: "checkpoint: data.pkl is corrupt (truncated, bad opcode, bad tensor arguments)", hint: RESAVE_CKPT },
  pickle_refused: {
    code: 'LDMC627', title: 'checkpoint: data.pkl names a global outside the allow-list (nothing was run)',
    hint: 'save plain data: torch.save({"state_dict": model.state_dict()}, f), not a pickled module or object',
  },
  ckpt_unsupported: {
    code: 'LDMC628', title: 'checkpoint: a tensor kind, storage type or dtype ldmc does not support',
    hint: 'convert such tensors to dense float32 (or drop them) before torch.save',
  },
  storage_short: { code: 'LDMC629', title: "checkpoint: a storage shorter than a tensor's view needs", hint: RESAVE_CKPT },
  storage_missing: { code: 'LDMC630', title: 'checkpoint: a storage has no entry in the archive', hint: RESAVE_CKPT },
} as const satisfies Record<string, WeightsFault>;

export type WeightsFaultId = keyof typeof WeightsFaults;

/**
 * An error in a weights file: `fault` says which (its code and hint), the message says what and
 * where (the tensor, entry or byte offset), without the file's path, which the caller adds.
 */
export class WeightsFileError extends Error {
  override readonly name: string = 'WeightsFileError';
  constructor(readonly fault: WeightsFaultId, message: string, options?: ErrorOptions) {
    super(message, options);
  }
  get code(): string { return WeightsFaults[this.fault].code; }
  get hint(): string { return WeightsFaults[this.fault].hint; }
}

/**
 * A string from the file (a tensor name, a dtype) quoted for a message: control characters
 * escaped, and clipped in the middle to `max` characters, so a hostile name cannot break or
 * flood the line.
 */
export function quote(s: string, max = 60): string {
  // eslint-disable-next-line no-control-regex
  let t = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (t.length > max) t = `${t.slice(0, Math.ceil(max / 2) - 1)}…${t.slice(t.length - Math.floor(max / 2))}`;
  return `'${t}'`;
}

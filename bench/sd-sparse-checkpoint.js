// Writes a Stable Diffusion checkpoint of the published layout with all-zero weights as a sparse
// safetensors file (no disk used for the zeros), from the reference's state-dict shapes
// (../shared/reference/sd-configs/state-dict-shapes/v{1,2}-inference.json): for measuring what
// loading a full-size checkpoint costs (`/usr/bin/time -v ldmc txt2img ...`) without the real one.
// Usage: node bench/sd-sparse-checkpoint.js v1|v2 F32|F16|BF16 OUT.safetensors
import { closeSync, openSync, readFileSync, ftruncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const [version = 'v1', dtype = 'F32', out = `/tmp/sd-${version}-${dtype}.safetensors`] = process.argv.slice(2);
const shapes = JSON.parse(readFileSync(join(process.cwd(), '..', 'shared', 'reference', 'sd-configs', 'state-dict-shapes', `${version}-inference.json`), 'utf8'));
const prefix = { unet: 'model.diffusion_model.', first_stage: 'first_stage_model.', cond_stage: 'cond_stage_model.' };
const bytes = { F32: 4, F16: 2, BF16: 2 }[dtype];
const header = {};
let off = 0;
for (const [part, p] of Object.entries(prefix)) {
  for (const [name, shape] of shapes[part]) {
    const n = shape.reduce((a, b) => a * b, 1) * bytes;
    header[p + name] = { dtype, shape, data_offsets: [off, off + n] };
    off += n;
  }
}
let json = JSON.stringify(header);
json += ' '.repeat((8 - (json.length % 8)) % 8);
const head = Buffer.from(json);
const len = Buffer.alloc(8);
len.writeBigUInt64LE(BigInt(head.length));
const fd = openSync(out, 'w');
writeSync(fd, len, 0, 8, 0);
writeSync(fd, head, 0, head.length, 8);
ftruncateSync(fd, 8 + head.length + off);
closeSync(fd);
console.log(`wrote ${out}: ${Object.keys(header).length} tensors, ${(off / 2 ** 30).toFixed(2)} GiB of ${dtype} (sparse)`);

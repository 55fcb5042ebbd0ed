// Stable Diffusion's UNets, statically and built: the compiler's facts give the public parameter
// counts, and the runtime module tree carries exactly the state_dict names and shapes that each
// repository's own code builds (../shared/reference/sd-configs/state-dict-shapes, per component).
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { compile } from '../../compiler/program.js';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { torchShape } from '../../runtime/weights/state-dict.js';
import { diskHost } from '../support/compile.js';
import { requireReference } from '../support/reference.js';

interface ShapesFile {
  repo: string;
  unet: Array<[string, number[]]>;
}

const cases = [
  { name: 'SD v1 (CompVis/stable-diffusion v1-inference.yaml)', config: ['sd-configs', 'CompVis-stable-diffusion', 'v1-inference.yaml'], shapes: 'v1-inference.json', figure: 859_520_964 },
  { name: 'SD v2 (Stability-AI/stablediffusion v2-inference.yaml)', config: ['sd-configs', 'Stability-AI-stablediffusion', 'v2-inference.yaml'], shapes: 'v2-inference.json', figure: 865_910_724 },
] as const;

describe('Stable Diffusion UNets: public counts and state_dict names', function () {
  this.timeout(300_000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  for (const c of cases) {
    it(`${c.name}: the static count is the public figure and the sum of the reference shapes`, function () {
      const file = requireReference(this, ...c.config);
      const shapes = JSON.parse(readFileSync(requireReference(this, 'sd-configs', 'state-dict-shapes', c.shapes), 'utf8')) as ShapesFile;
      const unet = compile({ files: [file] }, diskHost).inference?.unet;
      expect(unet, 'the compiler infers the UNet').to.not.equal(undefined);
      expect(unet!.facts.paramCount).to.equal(c.figure);
      const sum = shapes.unet.reduce((n, [, s]) => n + s.reduce((a, b) => a * b, 1), 0);
      expect(sum).to.equal(c.figure);
      expect(unet!.facts.errors).to.deep.equal([]);
      expect(unet!.facts.warnings).to.deep.equal([]);
    });

    it(`${c.name}: the runtime UNet has every reference parameter, name by name, with its shape`, function () {
      const file = requireReference(this, ...c.config);
      const shapes = JSON.parse(readFileSync(requireReference(this, 'sd-configs', 'state-dict-shapes', c.shapes), 'utf8')) as ShapesFile;
      const node = compile({ files: [file] }, diskHost).inference!.unet!.node;
      const m = buildComponent(node.target, node.params, { zeroInit: true });
      try {
        const ours = new Map(m.paramEntries().map((p) => [p.name, torchShape(p.variable.shape, p.layout)]));
        const theirs = new Map(shapes.unet);
        expect([...ours.keys()].filter((k) => !theirs.has(k)), 'parameters the reference lacks').to.deep.equal([]);
        expect([...theirs.keys()].filter((k) => !ours.has(k)), 'reference parameters we lack').to.deep.equal([]);
        const wrong = [...theirs].filter(([k, s]) => JSON.stringify(ours.get(k)) !== JSON.stringify(s)).map(([k, s]) => `${k}: ours ${JSON.stringify(ours.get(k))}, reference ${JSON.stringify(s)}`);
        expect(wrong, 'shape mismatches').to.deep.equal([]);
        expect(m.paramCount()).to.equal(c.figure);
      } finally {
        m.dispose();
      }
    });
  }
});

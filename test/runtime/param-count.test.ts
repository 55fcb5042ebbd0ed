// The runtime builds the same modules the compiler reasons about: for every reference config,
// the parameter count of the tfjs module tree equals the static count. Parameters are built
// zero-initialised (lazily mapped memory), so even the 1.3B-parameter RDM UNet is cheap.
import { expect } from 'chai';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compile } from '../../compiler/program.js';
import { initBackend } from '../../runtime/backend.js';
import { buildComponent } from '../../runtime/build.js';
import { diskHost } from '../support/compile.js';
import { hasReference, referencePath } from '../support/reference.js';
import { yamlFiles } from '../support/files.js';


describe('runtime parameter counts equal the static counts', function () {
  this.timeout(120000);
  before(async function () {
    await initBackend({ backend: 'cpu', quiet: true });
  });

  const root = referencePath('ldm-configs');
  const files = hasReference('ldm-configs') ? [...yamlFiles(root), ...yamlFiles(referencePath('parity'))] : [];
  if (files.length === 0) it('reference configs (pending: ../shared/reference/ldm-configs not found; set LDMC_REFERENCE)');
  for (const f of files) {
    const r = compile({ files: [f] }, diskHost);
    const inf = r.inference;
    const parts = [
      ['UNet', inf?.unet?.node, inf?.unet?.facts.paramCount],
      ['first stage', inf?.firstStage?.node, inf?.firstStage?.facts.paramCount],
      ['cond stage', inf?.condStage?.node, inf?.condStage?.facts?.paramCount],
    ] as const;
    for (const [what, node, count] of parts) {
      if (!node || count === undefined || node.target === 'torch.nn.Identity') continue;
      it(`${relative(referencePath(), f)}: ${what} ${node.target.split('.').pop()}`, function () {
        const m = buildComponent(node.target, node.params, { zeroInit: true });
        try {
          expect(m.paramCount()).to.equal(count);
        } finally {
          m.dispose();
        }
      });
    }
  }
});

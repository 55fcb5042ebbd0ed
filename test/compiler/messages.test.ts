// The diagnostics table is the whole truth: codes are unique, every template says something, and
// every code is PRODUCED, with the severity the table declares, by a real run (as TypeScript's
// errorCheck script demands of its diagnostic messages). The runs are the broken-config corpus
// through the real CLI (test/support/broken-fixtures.ts, shared with broken.test.ts) plus one
// in-process run for the internal-error guard, which no config may reach.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { factRuleKey } from '../../compiler/check.js';
import { DiagnosticBag } from '../../compiler/diagnostics.js';
import { inferGraph } from '../../compiler/infer.js';
import { child } from '../../compiler/ir.js';
import { formatTemplate, Messages, type MessageTemplate } from '../../compiler/messages.js';
import { resolveGraph } from '../../compiler/resolve.js';
import { parseSource } from '../../compiler/source.js';
import { FactRules, type FactCode } from '../../schema/facts/index.js';
import { cases, reportedDiagnostics, runAllCases } from '../support/broken-fixtures.js';
import { repoRoot } from '../support/reference.js';

const all: MessageTemplate[] = Object.values(Messages);
const byCode = new Map(all.map((m) => [m.code, m]));

/** A template as a pattern: its fixed text, with anything in place of each `{n}`. */
function templatePattern(template: string): RegExp {
  const parts = template.split(/\{\d+\}/).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]*')}$`);
}

interface Produced {
  code: string;
  severity: string;
  message: string;
  by: string;
}

/**
 * LDMC900 in a real run: the internal-error guard around static inference. No config may reach it
 * (broken.test.ts and fuzz.test.ts fail if one does), so the graph of a real example is corrupted
 * after resolve: the UNet's channel_mult becomes a string, and the facts walker throws on it.
 */
function internalErrorRun(): Produced[] {
  const path = join(repoRoot, 'examples', 'celeba256.yaml');
  const bag = new DiagnosticBag();
  const root = parseSource(path, readFileSync(path, 'utf8'), bag)!;
  const g = resolveGraph(root, [path], bag);
  const unet = child(g.model, 'unet_config')!;
  (unet.params as Record<string, unknown>).channel_mult = 'not a list';
  inferGraph(g, bag);
  return bag.items.map((d) => ({ code: d.code, severity: d.severity, message: d.message, by: 'corrupted graph of examples/celeba256.yaml' }));
}

describe('diagnostic messages', function () {
  this.timeout(180_000);

  it('have unique, well-formed codes', function () {
    const codes = all.map((m) => m.code);
    expect(new Set(codes).size).to.equal(codes.length);
    for (const c of codes) expect(c).to.match(/^LDMC\d{3}$/);
  });

  it('each say something of their own (no bare placeholder)', function () {
    for (const m of all) {
      const fixed = m.message.replace(/\{\d+\}/g, '').replace(/[\s'":,.()]/g, '');
      expect(fixed.length, `${m.code} '${m.message}' is all placeholder`).to.be.at.least(8);
    }
    // The pattern used below must accept what the template produces.
    expect(templatePattern(Messages.Double_z_0_for_1.message).test(formatTemplate(Messages.Double_z_0_for_1.message, [true, 'x (y)']))).to.equal(true);
    expect(templatePattern(Messages.Double_z_0_for_1.message).test('double_z is true: x')).to.equal(false);
  });

  it('map every facts rule to a code of the same severity', function () {
    for (const code of Object.keys(FactRules) as FactCode[]) {
      const key = factRuleKey(code);
      // null: a rule the compiler checks on its own, with its own code (the double_z rules, LDMC521).
      if (key === null) {
        expect(code, `${code} has no LDMC code`).to.match(/double-z$/);
        continue;
      }
      expect(Messages[key].severity, `${code} (${FactRules[code]}) maps to ${Messages[key].code}`).to.equal(FactRules[code]);
    }
  });

  describe('every code is produced with its declared severity', function () {
    const produced: Produced[] = [];

    before(async function () {
      const runs = await runAllCases();
      for (const c of cases) {
        const diags = reportedDiagnostics(runs.get(c.name)!) ?? [];
        for (const d of diags) produced.push({ code: d.code, severity: d.severity, message: d.message, by: c.name });
      }
      produced.push(...internalErrorRun());
    });

    it(`runs all ${cases.length} broken-config fixtures and the internal-error guard`, function () {
      expect(cases.length).to.be.at.least(80);
      expect(new Set(produced.map((p) => p.by)).size, 'runs that reported anything').to.be.at.least(cases.length);
    });

    it('every produced diagnostic has its code\'s severity and template', function () {
      const wrong = produced.flatMap((p) => {
        const m = byCode.get(p.code);
        if (!m) return [`${p.by}: ${p.code} is not in the table`];
        if (m.severity !== p.severity) return [`${p.by}: ${p.code} reported as ${p.severity}, declared ${m.severity}`];
        if (!templatePattern(m.message).test(p.message)) return [`${p.by}: ${p.code} '${p.message}' does not fit '${m.message}'`];
        return [];
      });
      expect(wrong).to.deep.equal([]);
    });

    it('every code of the table is produced', function () {
      const seen = new Set(produced.map((p) => `${p.code} ${p.severity}`));
      const missing = all.filter((m) => !seen.has(`${m.code} ${m.severity}`)).map((m) => `${m.code} (${m.severity}): ${m.message}`);
      expect(missing, 'codes no run produced with their declared severity').to.deep.equal([]);
    });
  });
});

// The CLIP BPE tokenizer against the reference's own runs (../shared/reference/sd-parity):
// open_clip 2.7.0's `tokenize` and transformers' slow CLIPTokenizer as FrozenCLIPEmbedder calls
// it, on the 32 prompts of tokenizer_prompts.json (tokenizer_ids.safetensors holds both [32, 77]).
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLIP_EOT, CLIP_SOT, ClipTokenizer, ClipVocabError, defaultClipVocabPath, type ClipTokenizerFlavour } from '../../runtime/encoders/clip-tokenizer.js';
import { fixText, whitespaceClean } from '../../runtime/encoders/text/clean.js';
import { ftfyUnescapeHtml, pythonHtmlUnescape } from '../../runtime/encoders/text/html-entities.js';
import { referencePath, repoRoot, requireReference } from '../support/reference.js';
import { get, readSafetensors } from './nn.helpers.js';

interface PerPrompt {
  i: number;
  text: string;
  open_clip_bpe_ids: number[];
  hf_bpe_ids: number[];
}

const ROWS: Record<ClipTokenizerFlavour, string> = { hf: 'hf_clip_input_ids', open_clip: 'open_clip_tokenize' };
const BPE: Record<ClipTokenizerFlavour, 'hf_bpe_ids' | 'open_clip_bpe_ids'> = { hf: 'hf_bpe_ids', open_clip: 'open_clip_bpe_ids' };

describe('CLIP tokenizer', function () {
  it('ships the vocabulary in the package, byte-identical to open_clip\'s, and finds it from the compiled module', function () {
    const p = defaultClipVocabPath();
    expect(p).to.equal(join(repoRoot, 'runtime', 'encoders', 'assets', 'bpe_simple_vocab_16e6.txt.gz'));
    expect(existsSync(p)).to.equal(true);
    expect(existsSync(join(repoRoot, 'runtime', 'encoders', 'assets', 'LICENSE-bpe_simple_vocab_16e6.txt'))).to.equal(true);
    // README: sha256 924691ac…6804a, 1,356,917 bytes.
    const bytes = readFileSync(p);
    expect(bytes.length).to.equal(1356917);
    expect(createHash('sha256').update(bytes).digest('hex')).to.equal('924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a');
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).to.include('runtime/encoders/assets');
  });

  for (const flavour of ['hf', 'open_clip'] as const) {
    it(`${flavour}: all 32 reference prompts give exactly the reference's [32, 77] ids and BPE ids`, function () {
      requireReference(this, 'sd-parity', 'tokenizer_ids.safetensors');
      const { prompts, per_prompt } = JSON.parse(readFileSync(referencePath('sd-parity', 'tokenizer_prompts.json'), 'utf8')) as { prompts: string[]; per_prompt: PerPrompt[] };
      const ref = get(readSafetensors('sd-parity', 'tokenizer_ids.safetensors'), ROWS[flavour]);
      expect(ref.shape).to.deep.equal([32, 77]);
      const tok = new ClipTokenizer(flavour);
      const { ids, shape } = tok.tokenize(prompts, 77);
      expect(shape).to.deep.equal([32, 77]);
      const wrongRows: string[] = [], wrongBpe: string[] = [];
      for (let i = 0; i < prompts.length; i++) {
        const want = Array.from(ref.data.subarray(i * 77, (i + 1) * 77), (v) => Math.round(v));
        const got = Array.from(ids.subarray(i * 77, (i + 1) * 77));
        if (JSON.stringify(got) !== JSON.stringify(want)) wrongRows.push(`#${i} ${JSON.stringify(prompts[i])}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
        const bpe = tok.encode(prompts[i]!);
        if (JSON.stringify(bpe) !== JSON.stringify(per_prompt[i]![BPE[flavour]])) wrongBpe.push(`#${i}: ${JSON.stringify(bpe)} != ${JSON.stringify(per_prompt[i]![BPE[flavour]])}`);
      }
      expect(wrongRows).to.deep.equal([]);
      expect(wrongBpe).to.deep.equal([]);
    });
  }

  it('the flavours differ where the README says: html escapes after a literal <, and each one\'s special-token spelling', function () {
    const hf = new ClipTokenizer('hf'), oc = new ClipTokenizer('open_clip');
    expect(hf.encode('<|startoftext|> a <|endoftext|>')).to.deep.equal([CLIP_SOT, 320, CLIP_EOT]);
    expect(oc.encode('<start_of_text> a <end_of_text>')).to.deep.equal([CLIP_SOT, 320, CLIP_EOT]);
    expect(oc.encode('<|startoftext|>')).to.not.include(CLIP_SOT);
    expect(hf.encode('<start_of_text>')).to.not.include(CLIP_SOT);
    // open_clip unescapes after ftfy; ftfy leaves entities alone once the text has a `<`.
    expect(oc.clean('<b> &amp;')).to.equal('<b> &');
    expect(hf.clean('<b> &amp;')).to.equal('<b> &amp;');
  });

  it('truncates as each library does: hf keeps bos + 75 + eos and pads with eos; open_clip cuts to 77 with eot last and pads with 0', function () {
    const long = Array.from({ length: 100 }, () => 'a').join(' ');
    const hf = new ClipTokenizer('hf').tokenize([long, 'a'], 77);
    const oc = new ClipTokenizer('open_clip').tokenize([long, 'a'], 77);
    expect(hf.ids[0]).to.equal(CLIP_SOT);
    expect(hf.ids[76]).to.equal(CLIP_EOT);
    expect(hf.ids[75]).to.equal(320);
    expect(Array.from(hf.ids.subarray(77, 80))).to.deep.equal([CLIP_SOT, 320, CLIP_EOT]);
    expect(hf.ids[153]).to.equal(CLIP_EOT); // padding
    expect(oc.ids[76]).to.equal(CLIP_EOT);
    expect(Array.from(oc.ids.subarray(77, 81))).to.deep.equal([CLIP_SOT, 320, CLIP_EOT, 0]);
    // a shorter max_length (FrozenCLIPEmbedder's param) is honoured
    const short = new ClipTokenizer('hf').tokenize(['a photo of a cat'], 4);
    expect(Array.from(short.ids)).to.deep.equal([CLIP_SOT, 320, 1125, CLIP_EOT]);
  });

  it('cleans like ftfy: mojibake, full width, ligatures, curly quotes, controls; whitespace like Python', function () {
    expect(fixText('cafÃ© â€œquotedâ€\x9d')).to.equal('café "quoted"');
    expect(fixText('ＡＢＣ１２３\u3000x')).to.equal('ABC123 x');
    expect(fixText('ﬁne ﬂy')).to.equal('fine fly');
    expect(fixText('\u2018it\u2019s\u2019')).to.equal("'it's'");
    expect(fixText('a\x00b\x1b[31mc\ufeff')).to.equal('abc');
    expect(fixText('e\u0301')).to.equal('é'); // NFC
    expect(fixText('naïve Zürich Œuvre Ærø')).to.equal('naïve Zürich Œuvre Ærø'); // good text stays
    expect(fixText('&amp;amp; &lt;')).to.equal('& <'); // until nothing changes
    expect(fixText('x < y &amp;')).to.equal('x < y &amp;');
    expect(whitespaceClean('  a\t\n b\x85c\u00a0 ')).to.equal('a b c');
  });

  it('unescapes HTML like Python (legacy names without ;, numeric rules) and like ftfy (only with ;)', function () {
    expect(pythonHtmlUnescape('&amp &ampx &copy; &#65; &#x41; &#128; &#0; &#xD800; &nosuch; &notit; &#00000000065;')).to.equal('& &x © A A € \ufffd \ufffd &nosuch; ¬it; A');
    expect(ftfyUnescapeHtml('&amp &amp; &EACUTE; &#x263a; &nosuch;')).to.equal('&amp & É ☺ &nosuch;');
  });

  it('names a missing vocabulary file', function () {
    const tok = new ClipTokenizer('hf', '/nonexistent/bpe.txt.gz');
    expect(() => tok.encode('a')).to.throw(ClipVocabError, /cannot read the CLIP vocabulary \/nonexistent\/bpe.txt.gz/);
  });
});

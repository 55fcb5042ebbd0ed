// An ldmc plugin for the textual-inversion and DreamBooth forks of Stable Diffusion:
//   ldmc check examples/plugins/v1-finetune_unfrozen.yaml --plugin examples/plugins/textual-inversion.ts
//
// It declares the fork's own modules (EmbeddingManager, PersonalizedBase) and the params the forks
// add to built-in targets, following rinongal/textual_inversion (ldm/modules/embedding_manager.py,
// ldm/data/personalized.py, ldm/models/diffusion/ddpm.py) and XavierXiao/Dreambooth-Stable-Diffusion
// (reg_weight, PersonalizedBase's `reg`, DataModuleFromConfig's `reg` split).
import { bool, child, definePlugin, int, nullable, num, oneOf, opt, params, str, Type } from 'ldmc';

const EmbeddingManager = {
  id: 'ldm.modules.embedding_manager.EmbeddingManager',
  // A family of its own: it is neither a cond stage nor a UNet, and only personalization_config holds it.
  family: 'personalization',
  summary: 'The learned pseudo-word embeddings of textual inversion; it swaps the placeholder tokens of the prompt for trained vectors.',
  source: 'ldm/modules/embedding_manager.py:30 (rinongal/textual_inversion)',
  params: params({
    placeholder_strings: opt(nullable(Type.Array(str('A placeholder word (one CLIP token).'), { description: 'The placeholder words the prompts use, e.g. ["*"].' })), null),
    initializer_words: opt(nullable(Type.Array(str('A word whose embedding starts a placeholder.'), { description: 'Words whose embeddings initialise the placeholders, one per placeholder.' })), null),
    shuffle_mode: opt(nullable(str('How multi-vector embeddings are shuffled (embedding_shuffler.get_shuffler); null: off.')), null),
    per_image_tokens: opt(bool('Add one extra placeholder per training image (the 22 Hebrew letters of per_img_token_list).'), false),
    num_vectors_per_token: opt(int('Embedding vectors learned per placeholder.', { minimum: 1 }), 1),
    progressive_words: opt(bool('Grow the number of vectors used per placeholder during training (every 2000 steps).'), false),
  }),
  // No facts: its count is placeholders × num_vectors_per_token × the text encoder's token width
  // (768 for CLIP, 1280 for LDM's BERT), twice with initializer words, and the token width belongs to
  // the cond stage, which this target cannot see. `ldmc inspect` shows it as unknown.
};

const PersonalizedBase = {
  id: 'ldm.data.personalized.PersonalizedBase',
  family: 'dataset',
  summary: 'A folder of a few images of one subject, captioned from templates around the placeholder token.',
  source: 'ldm/data/personalized.py:138 (rinongal/textual_inversion)',
  params: params({
    // Required by the class, but the forks' main.py fills it from --data_root, so configs leave it out.
    data_root: opt(nullable(str('Folder of the training images (main.py sets it from --data_root).')), null),
    size: opt(nullable(int('Side the images are resized to (null: native size).', { minimum: 1 })), null),
    repeats: opt(int('Times the folder is repeated per epoch (train set only).', { minimum: 1 }), 100),
    interpolation: opt(oneOf(['linear', 'bilinear', 'bicubic', 'lanczos'] as const, 'PIL resampling filter.'), 'bicubic'),
    flip_p: opt(num('Probability of a horizontal flip.', { minimum: 0, maximum: 1 }), 0.5),
    set: opt(oneOf(['train', 'val', 'test'] as const, 'Which split (only train repeats).'), 'train'),
    placeholder_token: opt(str('The word that stands for the subject in the captions.'), '*'),
    per_image_tokens: opt(bool('Caption some images with a per-image token as well.'), false),
    center_crop: opt(bool('Crop to a centred square before resizing.'), false),
    mixing_prob: opt(num('Probability of the two-token caption template when per_image_tokens is on.', { minimum: 0, maximum: 1 }), 0.25),
    coarse_class_text: opt(nullable(str('A class word put before the placeholder, e.g. "dog".')), null),
    // DreamBooth: the regularization set (class images) captions with the class word only.
    reg: opt(bool('DreamBooth: this is the regularization (prior-preservation) set.'), false),
  }),
};

export default definePlugin({
  name: 'textual-inversion',
  targets: [EmbeddingManager, PersonalizedBase],
  extend: {
    'ldm.models.diffusion.ddpm.LatentDiffusion': {
      personalization_config: opt(nullable(child(['personalization'], 'The EmbeddingManager that holds the learned placeholder embeddings.')), null),
      embedding_reg_weight: opt(num('Weight of the loss pulling the learned embeddings towards their initializer words.', { minimum: 0 }), 0),
      unfreeze_model: opt(bool('Train the UNet and the cond stage too (DreamBooth); false trains only the embeddings.'), false),
      model_lr: opt(num('Learning rate of the unfrozen model when unfreeze_model is true.', { minimum: 0 }), 0),
      reg_weight: opt(num('DreamBooth: weight of the prior-preservation loss on the regularization images.', { minimum: 0 }), 1.0),
    },
    'main.DataModuleFromConfig': {
      reg: opt(nullable(child(['dataset'], 'DreamBooth: the regularization (class) images, loaded alongside train.')), null),
    },
  },
});

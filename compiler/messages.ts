// Every diagnostic ldmc can emit, as data. Codes are stable: never renumber or reuse one; retire a
// code by leaving a gap. `{0}`, `{1}`… are filled from the diagnostic's arguments. One code is one
// rule with one severity: a rule that needs an error and a warning form takes two codes, and no
// template is a bare placeholder. A diagnostic can only be made from this table (`diag` in
// diagnostics.ts), so its code, severity and message are always the ones written here.
// test/compiler/messages.test.ts runs every broken-config fixture through the real CLI and fails
// unless each code below is produced, with the severity written here, by at least one of them
// (as TypeScript's errorCheck does for its diagnostics table).

export type Severity = 'error' | 'warning' | 'info';

export interface MessageTemplate {
  readonly code: string;
  readonly severity: Severity;
  readonly message: string;
}

function m(code: string, severity: Severity, message: string): MessageTemplate {
  return { code, severity, message };
}

export const Messages = {
  // --- source (1xx): reading and parsing files
  File_0_not_found: m('LDMC100', 'error', "cannot read '{0}': {1}"),
  YAML_syntax_error_0: m('LDMC101', 'error', 'YAML syntax error: {0}'),
  Duplicate_key_0: m('LDMC102', 'error', "duplicate key '{0}'"),
  Alias_expansion_exceeds_0_nodes: m('LDMC103', 'error', 'alias expansion exceeds {0} nodes (a YAML alias bomb?)'),
  File_is_empty: m('LDMC104', 'error', 'the config file is empty'),
  Top_level_must_be_a_mapping_not_0: m('LDMC105', 'error', 'the top level of a config must be a mapping, not {0}'),
  Unsupported_YAML_tag_0: m('LDMC106', 'error', "unsupported YAML tag '{0}'"),
  Key_must_be_a_scalar: m('LDMC107', 'error', 'mapping keys must be plain scalars'),
  Multiple_documents: m('LDMC108', 'warning', 'the file holds {0} YAML documents; only the first is read'),
  Unsupported_config_extension_0: m('LDMC109', 'error', "'{0}' is not a config file ldmc reads (YAML: .yaml, .yml; or .json)"),
  TS_config_only_literals_0: m('LDMC110', 'error', 'TS config: only literal values are allowed here, not {0}'),
  TS_config_missing_default_export: m('LDMC111', 'error', "TS config: no 'export default defineConfig({...})'"),
  TS_config_syntax_error_0: m('LDMC112', 'error', 'TS config syntax error: {0}'),
  Not_UTF8_0_byte_1: m('LDMC113', 'error', "'{0}' is not a UTF-8 text file: byte {1} here is not UTF-8"),
  Not_a_text_file_0_holds_1: m('LDMC114', 'error', "'{0}' is not a text file: it holds {1}"),
  Nesting_deeper_than_0: m('LDMC115', 'error', 'the config nests deeper than {0} levels'),
  Document_too_large_0_limit_1: m('LDMC116', 'error', 'the document is {0} bytes, over the limit of {1} bytes'),
  Scalar_too_long_0_limit_1: m('LDMC117', 'error', 'this value is {0} characters long, over the limit of {1}'),
  Plugin_file_0_not_found_1: m('LDMC118', 'error', "cannot read plugin '{0}': {1}"),
  Plugin_syntax_error_0: m('LDMC119', 'error', 'plugin syntax error: {0}'),

  // --- merge (2xx): bases, --set overrides, interpolation
  Set_override_0_is_not_key_eq_value: m('LDMC200', 'error', "--set '{0}' is not of the form key.path=value"),
  Set_override_path_0_crosses_non_mapping_1: m('LDMC201', 'error', "--set path '{0}' goes through '{1}', which is not a mapping"),
  Interpolation_0_not_found: m('LDMC202', 'error', "interpolation '${{0}}' names a key that does not exist"),
  Interpolation_cycle_0: m('LDMC203', 'error', 'interpolation cycle: {0}'),
  Interpolation_resolver_0_not_supported: m('LDMC204', 'error', "resolver '{0}' is not supported: ldmc never executes what a config names"),
  Interpolation_0_malformed: m('LDMC205', 'error', "malformed interpolation '{0}'"),
  Interpolation_0_inserts_a_1_into_a_string: m('LDMC206', 'error', "interpolation '${{0}}' inside a string refers to a {1}"),
  Base_cycle_0: m('LDMC207', 'error', 'the modeline bases form a cycle: {0}'),

  // --- resolve (3xx): targets and the shape of nodes
  Unknown_target_0: m('LDMC300', 'error', "unknown target '{0}'"),
  Missing_target: m('LDMC301', 'error', "this {0} has no 'target'"),
  Target_must_be_a_string: m('LDMC302', 'error', "'target' must be a dotted class path string"),
  Params_must_be_a_mapping: m('LDMC303', 'error', "'params' must be a mapping"),
  Unknown_key_0_in_target_node: m('LDMC304', 'error', "unknown key '{0}' next to 'target' (only 'target' and 'params'{1} belong here)"),
  Target_0_is_a_1_expected_2: m('LDMC305', 'error', "'{0}' is a {1}, but {2} is expected here"),
  Sentinel_0_not_allowed_here: m('LDMC306', 'error', "'{0}' is not allowed here: {1}"),
  Unknown_top_level_section_0: m('LDMC307', 'warning', "unknown top-level section '{0}' (known: model, data, lightning)"),
  Missing_model_section: m('LDMC308', 'error', "the config has no 'model' section"),
  Section_0_must_be_a_mapping: m('LDMC309', 'error', "'{0}' must be a mapping"),
  Unknown_trainer_option_0: m('LDMC310', 'warning', "unknown Lightning trainer option '{0}'"),
  Unknown_lightning_section_0: m('LDMC311', 'warning', "unknown lightning section '{0}' (known: {1})"),
  Not_in_dialect_0_1_2: m('LDMC312', 'error', '{0} is not in {1}: it is only in {2}'),
  Dialect_conflict_0_1_2: m('LDMC313', 'error', 'no repository accepts this whole config: {0} needs {1}, but what comes before it needs {2}'),

  // --- params (4xx): per-target schema checks
  Unknown_param_0_for_1: m('LDMC400', 'error', "unknown param '{0}' for {1}"),
  Param_0_expects_1_got_2: m('LDMC401', 'error', "'{0}' expects {1}, got {2}"),
  Missing_required_param_0_for_1: m('LDMC402', 'error', "missing required param '{0}' for {1}"),
  Param_0_must_be_one_of_1: m('LDMC403', 'error', "'{0}' must be one of {1}, got {2}"),
  Param_0_out_of_range_1: m('LDMC404', 'error', "'{0}' must be {1}, got {2}"),
  Param_0_not_supported_1: m('LDMC405', 'error', "'{0}' = {1} is not supported: {2}"),

  // --- cross-module rules (5xx)
  UNet_in_channels_0_expected_1: m('LDMC500', 'error', 'UNet in_channels is {0}, but the latent has {1} channels{2}'),
  UNet_out_channels_0_expected_1: m('LDMC501', 'error', 'UNet out_channels is {0}, but the latent has {1} channels'),
  Diffusion_channels_0_expected_1: m('LDMC502', 'error', "diffusion 'channels' is {0}, but the first stage's latent has {1} channels"),
  Diffusion_image_size_0_expected_1: m('LDMC503', 'warning', "diffusion 'image_size' is {0}, but the first stage maps {1}px images to {2}×{2} latents"),
  Width_0_not_divisible_by_32: m('LDMC504', 'error', '{0} has width {1}, which GroupNorm(32) cannot split into 32 groups'),
  Head_channels_0_do_not_divide_1: m('LDMC505', 'error', 'num_head_channels = {0} does not divide the attention width {1} at {2}'),
  Attention_resolution_0_never_matches: m('LDMC506', 'warning', 'attention_resolutions entry {0} never matches a level (the levels have downsampling factors {1}), so it adds no attention'),
  Context_dim_0_expected_1: m('LDMC507', 'error', 'UNet context_dim is {0}, but the cond stage outputs {1}-dim tokens'),
  Conditioning_key_0_conflicts_1: m('LDMC508', 'error', "conditioning key '{0}' {1}"),
  Conditioning_key_0_overridden_1: m('LDMC509', 'warning', "conditioning_key '{0}' is ignored: {1}"),
  Ckpt_path_0_not_found: m('LDMC510', 'warning', "ckpt_path '{0}' does not exist"),
  Monitor_0_not_logged_1: m('LDMC511', 'error', "monitor '{0}' is not a metric that {1} logs"),
  UNet_heads_unset: m('LDMC512', 'error', 'UNet needs num_heads or num_head_channels (both are -1)'),
  Spatial_transformer_needs_context_dim: m('LDMC513', 'error', 'use_spatial_transformer is true, but context_dim is not set (the width of the cross-attention context)'),
  // LDMC514 (UNet image_size vs the diffusion image_size) is retired: UNetModel records its
  // image_size only, so the mismatch changed nothing (issue 10, "warnings are true").
  Concat_channels_unknown_0: m('LDMC515', 'warning', 'UNet in_channels is {0}: latent {1} + {2} concat channels, which must come from the data ({3})'),
  Num_timesteps_cond_0_unsupported: m('LDMC516', 'error', 'num_timesteps_cond = {0} is not supported (only 1)'),
  // LDMC517 (an info line for the effective learning rate) is retired: nothing emitted it, and
  // `ldmc inspect` prints that figure. LDMC518 was never used.
  Latent_downsampled_to_nothing_0_by_1: m('LDMC519', 'error', 'the first stage downsamples {0}px images by {1}, to nothing'),
  Skip_size_0_mismatch_1: m('LDMC520', 'warning', 'the skip connection into {0} is {1}×{2}, but the upsampled path is {3}×{4}: torch.cat fails in the forward pass'),
  Double_z_0_for_1: m('LDMC521', 'error', 'double_z is {0}, but {1}'),
  Cond_stage_trainable_with_sentinel_0: m('LDMC522', 'error', "cond_stage_trainable is true, but the cond stage is '{0}', which has nothing to train"),
  Discriminator_too_deep_0_for_1: m('LDMC523', 'error', 'disc_num_layers = {0} is too deep for {1}×{1} images: the PatchGAN discriminator\'s patch map would be empty, and PyTorch raises in its first training step'),
  Context_dim_0_without_spatial_transformer: m('LDMC524', 'error', 'context_dim is {0}, but use_spatial_transformer is false (UNetModel asserts that a context comes with the spatial transformer)'),
  Attention_heads_0_do_not_divide_1: m('LDMC525', 'warning', '{0} heads do not divide the attention width {1} at {2}: the UNet builds, but its forward pass fails'),
  Transformer_heads_0_dim_head_1_at_2: m('LDMC526', 'error', 'the SpatialTransformer at {2} gets n_heads = {0} and d_head = {1} for width {3}, which make no attention width'),
  Output_head_width_0_vs_1: m('LDMC527', 'warning', "channel_mult[0] = {0}: the UNet's output head normalises {1} channels, but its conv expects model_channels = {2}, so the forward pass fails"),
  Adm_in_channels_missing: m('LDMC528', 'error', 'num_classes is "sequential", but adm_in_channels is not set (the width of the y vector that label_emb takes; UNetModel asserts it)'),
  Per_level_0_has_1_entries_for_2_levels: m('LDMC529', 'error', '{0} has {1} entries, but channel_mult has {2} levels (UNetModel asserts one entry per level)'),
  Attention_blocks_0_is_1_exceeds_2: m('LDMC530', 'error', 'num_attention_blocks[{0}] = {1} exceeds num_res_blocks = {2} (UNetModel asserts it)'),
  Linear_proj_out_0_at_1: m('LDMC531', 'warning', "use_linear_in_transformer: the SpatialTransformer at {1} builds proj_out as Linear({2}, {0}), which cannot map its {0}-wide tokens back to {2} channels, so the forward pass fails"),
  Lightning_key_0_must_be_1: m('LDMC532', 'error', "'{0}' is a plain lightning setting, not a section: it must be {1}"),

  // SD conditioning stages (LDMC540–549)
  Clip_layer_idx_0_invalid: m('LDMC540', 'error', "layer 'hidden' needs layer_idx with abs(layer_idx) <= 12, but layer_idx is {0} (FrozenCLIPEmbedder asserts it)"),
  Clip_max_length_0_exceeds_1: m('LDMC541', 'warning', 'max_length is {0}, but the text model has {1} position embeddings: the tokenizer pads to {0} tokens and the forward pass fails'),
  Clip_image_layer_0_unsupported: m('LDMC542', 'error', "layer '{0}' raises NotImplementedError in FrozenOpenCLIPImageEmbedder (only 'pooled' works)"),
  Noise_aug_width_0_vs_1: m('LDMC543', 'warning', 'timestep_dim is {0}, but the image embedding is {1} wide: without clip_stats_path the mean/std buffers are timestep_dim wide and the forward pass fails'),
  Adm_in_channels_0_expected_1: m('LDMC544', 'error', 'UNet adm_in_channels is {0}, but c_adm is {1} wide ({2})'),
  Noise_levels_0_exceed_classes_1: m('LDMC545', 'error', "the low-scale model draws noise levels up to {0}, but the UNet's label embedding has num_classes = {1} rows"),
  Clip_model_0_unknown: m('LDMC546', 'warning', "ldmc knows no CLIP text model '{0}': its parameters are not counted, and the runtime cannot build it"),
  Clip_config_0_unreadable_1: m('LDMC547', 'error', 'cannot read the model config {0}: {1}'),
  Clip_config_0_invalid_1: m('LDMC548', 'error', 'the model config {0} cannot be used: {1}'),

  // --- plugins (71x): the user's own targets (--plugin, package.json "ldmc.plugins", ldmc.config.ts)
  Config_cannot_load_plugins_0: m('LDMC710', 'error', "a config cannot load plugins ('{0}'): nothing a config names is executed"),
  Plugin_0_has_no_definePlugin_default_1: m('LDMC711', 'error', "plugin '{0}' does not export default definePlugin({...}): {1}"),
  Plugin_0_failed_to_load_1: m('LDMC712', 'error', "plugin '{0}' failed while loading: {1}"),
  Plugin_target_0_clashes_with_1: m('LDMC713', 'error', "plugin target '{0}' clashes with {1}"),
  Plugin_target_0_invalid_1: m('LDMC714', 'error', "plugin target '{0}' is invalid: {1}"),
  Plugin_extends_unknown_target_0: m('LDMC715', 'error', "plugin extends '{0}', which is not a built-in target"),
  Plugin_param_0_clashes_on_1: m('LDMC716', 'error', "plugin param '{0}' is already a param of {1}"),
  Plugin_facts_of_0_failed_1: m('LDMC717', 'error', "the plugin's static facts for {0} failed: {1}"),
  Project_plugins_0_invalid_1: m('LDMC718', 'error', "the plugin list in '{0}' is invalid: {1}"),

  // --- internal (9xx)
  Internal_error_0: m('LDMC900', 'error', 'internal error in ldmc: {0}'),
} as const satisfies Record<string, MessageTemplate>;

export type MessageKey = keyof typeof Messages;

/** Longest argument quoted whole in a message (a path, a cycle); longer ones (a pasted name, a file's worth) keep only their ends. */
export const MAX_ARG_LENGTH = 200;

export function formatTemplate(template: string, args: readonly unknown[]): string {
  return template.replace(/\{(\d+)\}/g, (_, i: string) => {
    const v = args[Number(i)];
    return v === undefined ? '' : clipArg(typeof v === 'string' ? v : JSON.stringify(v));
  });
}

/** `head…tail (N characters)`: a message quotes user input, and a 300,000-character quote helps nobody (the span points at all of it). */
export function clipArg(s: string): string {
  if (s.length <= MAX_ARG_LENGTH) return s;
  return `${s.slice(0, 48)}…${s.slice(-16)} (${s.length} characters)`;
}

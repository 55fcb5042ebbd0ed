-- Neovim (0.7+) showing what `ldmc lsp` gives: diagnostics as virtual text, the parameter counts and
-- attention resolutions as end-of-line hints (0.7 has no inlay-hint UI, so this asks the server
-- for textDocument/inlayHint and draws them), and the hover on the UNet's target.
-- Used by docs/lsp/screenshot.sh (tmux capture-pane).
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({ name = 'ldmc', cmd = { 'node', vim.env.LDMC_BIN, 'lsp', '--stdio' }, root_dir = vim.fn.getcwd() })
vim.lsp.buf_attach_client(buf, client)
vim.wait(15000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local ns = vim.api.nvim_create_namespace('ldmc_inlay')
vim.api.nvim_set_hl(0, 'LdmcInlay', { fg = '#7aa2f7', italic = true })
local c = vim.lsp.get_client_by_id(client)
local params = { textDocument = vim.lsp.util.make_text_document_params(), range = { start = { line = 0, character = 0 }, ['end'] = { line = vim.api.nvim_buf_line_count(buf), character = 0 } } }
local res = c.request_sync('textDocument/inlayHint', params, 5000, buf)
for _, h in ipairs((res and res.result) or {}) do
  vim.api.nvim_buf_set_extmark(buf, ns, h.position.line, 0, { virt_text = { { '  ' .. h.label, 'LdmcInlay' } }, virt_text_pos = 'eol', priority = 200 })
end
vim.diagnostic.config({ virtual_text = { prefix = '●' } })
local line = vim.fn.search('openaimodel.UNetModel')
vim.api.nvim_win_set_cursor(0, { line, 30 })
vim.cmd('normal! zt')
vim.cmd('normal! 5k')
vim.api.nvim_win_set_cursor(0, { line, 30 })
vim.defer_fn(function() vim.lsp.buf.hover() end, 4000)

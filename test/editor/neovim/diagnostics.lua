-- Headless Neovim (0.7+) as an LSP client of `ldmc lsp --stdio`: open the file, attach the server
-- with the 0.7 API (vim.lsp.start_client + buf_attach_client; vim.lsp.start is 0.8+), wait for
-- diagnostics with a bounded loop, and write them as JSON for the mocha test to assert on.
local file, out, ldmc = vim.env.LDMC_FILE, vim.env.LDMC_OUT, vim.env.LDMC_BIN
vim.cmd('edit ' .. vim.fn.fnameescape(file))
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({
  name = 'ldmc',
  cmd = { vim.env.LDMC_NODE or 'node', ldmc, 'lsp', '--stdio' },
  root_dir = vim.fn.fnamemodify(file, ':h'),
})
local result = { client = client, attached = false, diagnostics = {} }
if client then
  result.attached = vim.lsp.buf_attach_client(buf, client)
  result.ok = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local lsp = (d.user_data or {}).lsp or {}
    table.insert(result.diagnostics, { lnum = d.lnum, code = d.code or lsp.code, message = d.message, source = d.source })
  end
  vim.lsp.stop_client(client)
end
local f = assert(io.open(out, 'w'))
f:write(vim.fn.json_encode(result))
f:close()
vim.cmd('qall!')

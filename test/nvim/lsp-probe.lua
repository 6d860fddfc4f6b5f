-- Drives Crucible's language server from Neovim's built-in LSP client (headless),
-- so the tests can show the server speaks plain LSP to a client that is not
-- VS Code: Neovim encodes URIs its own way (lower-case percent escapes), sends
-- incremental changes computed by its own diffing, and declares few capabilities.
--
-- Run by test/nvim/neovim.test.ts as
--   nvim --headless --clean -u NONE -i NONE -n -S test/nvim/lsp-probe.lua
-- with CRUCIBLE_NVIM_PLAN naming a JSON plan (what to open, query and edit).
-- Every step records what the server answered into one JSON result written to
-- plan.out; a failed step records `error` and skips to the shutdown, so the test
-- always gets a result to explain (never a hung editor). Targets Neovim 0.7.2
-- (Debian 12's), whose API is `vim.lsp.start_client` and dot-called client methods.

local result = {
  nvim = vim.version(),
  steps = {}, -- names of the steps that completed, in order
  logs = {}, -- the server's window/logMessage and window/showMessage lines
  indexed = {}, -- every crucible/indexed summary
  published = {}, -- raw textDocument/publishDiagnostics params
}

local function readfile(p)
  local f = assert(io.open(p, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

local function writefile(p, s)
  local f = assert(io.open(p, 'wb'))
  f:write(s)
  f:close()
end

local plan_path = os.getenv('CRUCIBLE_NVIM_PLAN')
local plan = vim.json.decode(readfile(assert(plan_path, 'CRUCIBLE_NVIM_PLAN is not set')))
local timeout = plan.timeoutMs

local client_id
local exit_info -- set by on_exit: { code, signal }
local changed = {} -- folder-relative files from crucible/indexChanged, in arrival order

local function step(name)
  table.insert(result.steps, name)
end

-- A failure the probe expects to report (a silent or dead server): reported as
-- its message alone, while anything else keeps its Lua traceback.
local function fail(fmt, ...)
  error({ probe = string.format(fmt, ...) })
end

-- Waits for `cond` while Neovim keeps running its event loop (RPC callbacks fire
-- inside vim.wait); stops early if the server died, and fails naming what was
-- awaited, so a silent server is a clear error rather than a hang.
local function wait_for(what, cond)
  vim.wait(timeout, function() return exit_info ~= nil or cond() end, 20)
  if cond() then return end
  if exit_info then
    fail('server exited (code %s, signal %s) while waiting for %s', exit_info.code, exit_info.signal, what)
  end
  fail('timed out after %d ms waiting for %s', timeout, what)
end

local function client()
  return vim.lsp.get_client_by_id(client_id)
end

local function request(method, params, bufnr)
  local c = client()
  if not c then fail('no LSP client (server gone?) for %s', method) end
  local res, err = c.request_sync(method, params, timeout, bufnr)
  if not res then fail('%s: no response (%s)', method, tostring(err)) end
  if res.err then fail('%s: server answered with error %s', method, vim.inspect(res.err)) end
  -- A null result decodes to vim.NIL; an empty list must stay a list in the JSON.
  if res.result == nil or res.result == vim.NIL then return vim.NIL end
  return res.result
end

local function abs(rel)
  return plan.root .. '/' .. rel
end

local function open(rel)
  -- Keep earlier buffers loaded (and attached) when the next file is edited.
  vim.o.hidden = true
  vim.cmd('edit ' .. vim.fn.fnameescape(abs(rel)))
  local bufnr = vim.api.nvim_get_current_buf()
  -- -u NONE turns filetype detection off; the languageId Neovim sends comes from it.
  vim.bo[bufnr].filetype = plan.filetypes[rel] or ''
  if not vim.lsp.buf_attach_client(bufnr, client_id) then fail('buf_attach_client failed for %s', rel) end
  return bufnr
end

local function symbols(queries, bufnr)
  local out = {}
  for _, q in ipairs(queries) do
    local found = request('workspace/symbol', { query = q }, bufnr)
    -- Record which file Neovim itself resolves each location to: the server builds
    -- its URIs with Node's encoder, Neovim with its own.
    if found ~= vim.NIL then
      for _, s in ipairs(found) do s.fname = vim.uri_to_fname(s.location.uri) end
    end
    out[q] = found
  end
  return out
end

local function run()
  client_id = vim.lsp.start_client({
    name = 'crucible',
    cmd = plan.server,
    cmd_cwd = plan.root,
    root_dir = plan.root,
    on_init = function(_, init)
      result.capabilities = init.capabilities
      result.serverInfo = init.serverInfo
    end,
    on_exit = function(code, signal)
      exit_info = { code = code, signal = signal }
    end,
    handlers = {
      ['crucible/indexed'] = function(_, summary)
        table.insert(result.indexed, summary)
      end,
      ['crucible/indexChanged'] = function(_, params)
        for _, f in ipairs(params.files) do table.insert(changed, f) end
      end,
      ['window/logMessage'] = function(_, params)
        table.insert(result.logs, params.message)
      end,
      ['window/showMessage'] = function(_, params)
        table.insert(result.logs, 'showMessage: ' .. params.message)
      end,
      -- Keep the raw params (positions as the server sent them), then let Neovim's
      -- own handler turn them into vim.diagnostic items as it would for a user.
      ['textDocument/publishDiagnostics'] = function(err, params, ctx, config)
        table.insert(result.published, { uri = params.uri, fname = vim.uri_to_fname(params.uri), diagnostics = params.diagnostics })
        return vim.lsp.diagnostic.on_publish_diagnostics(err, params, ctx, config)
      end,
    },
  })
  if not client_id then fail('vim.lsp.start_client failed (cmd: %s)', table.concat(plan.server, ' ')) end
  result.serverPid = vim.lsp.get_client_by_id(client_id) and vim.lsp.get_client_by_id(client_id).rpc.pid or nil
  step('started')

  local buffers = {}
  for _, rel in ipairs(plan.open) do buffers[rel] = open(rel) end
  step('opened')

  wait_for('crucible/indexed', function() return #result.indexed > 0 end)
  step('indexed')

  result.symbols = symbols(plan.queries, buffers[plan.open[1]])
  step('symbols')

  local diag_buf = buffers[plan.diagnosticsFor]
  wait_for('diagnostics on ' .. plan.diagnosticsFor, function() return #vim.diagnostic.get(diag_buf) > 0 end)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(diag_buf)) do
    table.insert(result.diagnostics, {
      lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col,
      severity = d.severity, message = d.message, source = d.source or vim.NIL,
    })
  end
  step('diagnostics')

  -- An unsaved edit, made the way a user's typing is: Neovim works in byte columns
  -- and converts them to UTF-16 for the server, so a wrong conversion on either side
  -- would garble the renamed identifier.
  local e = plan.edit
  local ebuf = buffers[e.file]
  local line = vim.api.nvim_buf_get_lines(ebuf, e.line, e.line + 1, true)[1]
  local s = line:find(e.find, 1, true)
  if not s then fail('%q not on line %d of %s: %q', e.find, e.line, e.file, line) end
  local mark = #changed
  vim.api.nvim_buf_set_text(ebuf, e.line, s - 1, e.line, s - 1 + #e.find, { e.replace })
  wait_for('crucible/indexChanged for ' .. e.file, function()
    for i = mark + 1, #changed do
      if changed[i] == e.file then return true end
    end
    return false
  end)
  result.afterEdit = symbols(plan.afterEditQueries, ebuf)
  step('edited')

  -- A full re-index while the buffer is still unsaved: the server should index the
  -- open buffer's text, not the file on disk.
  local before = #result.indexed
  result.reindex = request('crucible/reindex', {}, ebuf)
  wait_for('crucible/indexed after crucible/reindex', function() return #result.indexed > before end)
  result.afterReindex = symbols(plan.afterEditQueries, ebuf)
  step('reindexed')
end

local function stop()
  local c = client()
  if c then
    -- shutdown, then exit once the server has answered (Neovim's own sequence).
    c.stop()
    local ok = vim.wait(timeout, function() return exit_info ~= nil end, 20)
    if not ok then
      result.stopError = string.format('server still running %d ms after shutdown/exit; killing it', timeout)
      c.stop(true)
      vim.wait(2000, function() return exit_info ~= nil end, 20)
    end
  end
  result.exit = exit_info or vim.NIL
end

local function explain(e)
  if type(e) == 'table' and e.probe then return e.probe end
  return debug.traceback(tostring(e))
end

local ok, err = xpcall(run, explain)
if not ok then result.error = err end
local stopped, stop_err = xpcall(stop, explain)
if not stopped then result.stopError = tostring(stop_err) end
local encoded_ok, encoded = pcall(vim.json.encode, result)
if not encoded_ok then encoded = vim.json.encode({ error = 'cannot encode the result: ' .. tostring(encoded) }) end
writefile(plan.out, encoded)
vim.cmd('qa!')

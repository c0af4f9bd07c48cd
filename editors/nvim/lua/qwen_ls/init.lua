--- qwen-ls for Neovim: starts `qwen-ls serve` with vim.lsp for the configured filetypes, shows inline
--- completions (vim.lsp.inline_completion on 0.12+, the plugin's own ghost text otherwise), maps the
--- accept / dismiss keys buffer-locally without taking keys it was not given, and adds :QwenLs.
---
---   require("qwen_ls").setup({ settings = { model = "qwen2.5-coder-1.5b" } })
local config = require("qwen_ls.config")
local ghost = require("qwen_ls.ghost")
local util = require("qwen_ls.util")

local M = {}

local api = vim.api

M.name = "qwen-ls"

---@type table<integer, table> last qwen/status per client id
M.status = {}

M.options = nil ---@type table|nil
M.problems = {} ---@type string[]

local augroup = api.nvim_create_augroup("qwen_ls", { clear = true })
local last_error_notified = nil

--- The qwen-ls client attached to a buffer.
---@param bufnr integer|nil
function M.get_client(bufnr)
  local clients = vim.lsp.get_clients({ bufnr = bufnr or api.nvim_get_current_buf(), name = M.name })
  return clients[1]
end

local function on_status(_, params, ctx)
  if type(params) ~= "table" then
    return
  end
  M.status[ctx.client_id] = params
  if params.state == "error" then
    local msg = ("qwen-ls: %s"):format(params.message or "error (see :QwenLs log)")
    if msg ~= last_error_notified then
      last_error_notified = msg
      vim.notify(msg, vim.log.levels.WARN)
    end
  elseif params.state == "ready" then
    last_error_notified = nil
  end
  pcall(api.nvim_exec_autocmds, "User", { pattern = "QwenLsStatus", modeline = false })
end

--- A short status for statuslines: "qwen ready 120ms", "qwen loading", ...
function M.statusline(bufnr)
  local client = M.get_client(bufnr)
  if not client then
    return ""
  end
  local st = M.status[client.id]
  if not st then
    return "qwen starting"
  end
  if util.disabled then
    return "qwen off"
  end
  local s = "qwen " .. tostring(st.state)
  if st.state == "ready" and type(st.lastLatencyMs) == "number" then
    s = s .. (" %dms"):format(st.lastLatencyMs)
  end
  return s
end

local function root_dir(bufnr, markers)
  local name = api.nvim_buf_get_name(bufnr)
  if vim.fs.root then
    local root = vim.fs.root(bufnr, markers)
    if root then
      return root
    end
  elseif name ~= "" then
    local found = vim.fs.find(markers, { path = vim.fs.dirname(name), upward = true })[1]
    if found then
      return vim.fs.dirname(found)
    end
  end
  return vim.fn.getcwd()
end

local function wants(bufnr)
  local opts = M.options
  if not opts or not api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return false
  end
  if opts.filetypes ~= "*" and not vim.tbl_contains(opts.filetypes, vim.bo[bufnr].filetype) then
    return false
  end
  return true
end

--- Starts (or reuses) the client for a buffer.
---@param bufnr integer
---@return integer|nil client_id
function M.attach(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  if not wants(bufnr) then
    return nil
  end
  local opts = M.options
  local init_options = config.init_options(opts)
  return vim.lsp.start({
    name = M.name,
    cmd = config.cmd(opts),
    root_dir = root_dir(bufnr, opts.root_markers),
    init_options = init_options,
    -- answers workspace/configuration for section "qwen" (Neovim's default handler reads this)
    settings = { qwen = init_options },
    handlers = {
      ["qwen/status"] = on_status,
      ["qwen/partialCompletion"] = function(_, params)
        ghost.on_partial(params)
      end,
    },
  }, { bufnr = bufnr })
end

--- Replays what `lhs` did before we mapped it (another plugin's mapping, or the key itself).
local function fallback(lhs, previous)
  if previous and not vim.tbl_isempty(previous) then
    if previous.callback then
      local result = previous.callback()
      if previous.expr == 1 and type(result) == "string" then
        if previous.replace_keycodes == 1 then
          result = api.nvim_replace_termcodes(result, true, false, true)
        end
        api.nvim_feedkeys(result, previous.noremap == 1 and "n" or "m", false)
      end
      return
    end
    local rhs = previous.rhs or ""
    if previous.expr == 1 then
      rhs = api.nvim_eval(rhs)
    end
    api.nvim_feedkeys(api.nvim_replace_termcodes(rhs, true, false, true), previous.noremap == 1 and "n" or "m", false)
    return
  end
  api.nvim_feedkeys(api.nvim_replace_termcodes(lhs, true, false, true), "n", false)
end

local function native_accept(how)
  local ic = vim.lsp.inline_completion
  if how == "all" then
    return ic.get() ~= false
  end
  -- partial accept through on_accept, where this Neovim has it
  local ok, accepted = pcall(ic.get, {
    on_accept = function(item)
      local text = item.insert_text or item.insertText or ""
      if type(text) == "table" then
        text = text.value or ""
      end
      local row, col = unpack(api.nvim_win_get_cursor(0))
      local line = api.nvim_get_current_line()
      local start_col = item.range and (item.range.start_col or (item.range.start and item.range.start.col)) or col
      local typed = line:sub((start_col or col) + 1, col)
      if text:sub(1, #typed) == typed then
        text = text:sub(#typed + 1)
      end
      local piece = how == "line" and ghost.next_line(text) or ghost.next_word(text)
      local lines = vim.split(piece, "\n", { plain = true })
      api.nvim_buf_set_text(0, row - 1, col, row - 1, col, lines)
      api.nvim_win_set_cursor(0, { row + #lines - 1, (#lines == 1 and col or 0) + #lines[#lines] })
    end,
  })
  return ok and accepted ~= false
end

local function map_keys(bufnr)
  local keys = M.options.keymaps or {}
  local native = M.options.ghost_text == "native"
  local actions = {
    accept = function()
      if native then
        return native_accept("all")
      end
      return ghost.accept("all", bufnr)
    end,
    accept_line = function()
      if native then
        return native_accept("line")
      end
      return ghost.accept("line", bufnr)
    end,
    accept_word = function()
      if native then
        return native_accept("word")
      end
      return ghost.accept("word", bufnr)
    end,
    dismiss = function()
      if native then
        return false
      end
      return ghost.dismiss(bufnr)
    end,
    suggest = function()
      if native then
        vim.lsp.inline_completion.get()
      else
        ghost.request(bufnr, true)
      end
      return true
    end,
  }
  for name, action in pairs(actions) do
    local lhs = keys[name]
    if type(lhs) == "string" and lhs ~= "" then
      local previous = vim.fn.maparg(lhs, "i", false, true)
      if previous and previous.buffer == 1 and previous.desc and previous.desc:match("^qwen%-ls") then
        previous = nil -- our own mapping from an earlier attach
      end
      vim.keymap.set("i", lhs, function()
        if not action() then
          fallback(lhs, previous)
        end
      end, { buffer = bufnr, silent = true, desc = "qwen-ls: " .. name:gsub("_", " ") })
    end
  end
end

local function on_attach(bufnr, client)
  if vim.b[bufnr].qwen_ls_attached then
    return
  end
  vim.b[bufnr].qwen_ls_attached = true
  map_keys(bufnr)
  if M.options.ghost_text == "native" then
    pcall(vim.lsp.inline_completion.enable, true, { bufnr = bufnr, client_id = client.id })
    return
  end
  local group = api.nvim_create_augroup("qwen_ls.buf." .. bufnr, { clear = true })
  api.nvim_create_autocmd({ "TextChangedI", "TextChangedP" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      ghost.on_text_changed(bufnr)
    end,
  })
  api.nvim_create_autocmd("CursorMovedI", {
    group = group,
    buffer = bufnr,
    callback = function()
      ghost.on_cursor_moved(bufnr)
    end,
  })
  api.nvim_create_autocmd({ "InsertLeave", "BufLeave" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      ghost.reset(bufnr)
    end,
  })
  api.nvim_create_autocmd({ "BufUnload", "BufWipeout" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      ghost.detach(bufnr)
      pcall(api.nvim_del_augroup_by_id, group)
    end,
  })
end

local function on_detach(bufnr)
  if not vim.b[bufnr].qwen_ls_attached then
    return
  end
  vim.b[bufnr].qwen_ls_attached = nil
  ghost.detach(bufnr)
  pcall(api.nvim_del_augroup_by_name, "qwen_ls.buf." .. bufnr)
  for _, lhs in pairs(M.options.keymaps or {}) do
    if type(lhs) == "string" and lhs ~= "" then
      pcall(vim.keymap.del, "i", lhs, { buffer = bufnr })
    end
  end
end

--- Shows a table as a scratch buffer in a split.
local function show_scratch(title, lines, filetype)
  vim.cmd("botright new")
  local buf = api.nvim_get_current_buf()
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].swapfile = false
  pcall(api.nvim_buf_set_name, buf, title .. " " .. buf)
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = filetype or "markdown"
  vim.bo[buf].modifiable = false
  return buf
end

--- Markdown lines for the qwen.explainContext answer.
function M.format_explanation(result, uri, position)
  local lines = { "# Completion context", "", ("At %s:%d:%d"):format(uri, position.line + 1, position.character + 1), "" }
  local snippets = type(result) == "table" and result.snippets or nil
  if type(snippets) ~= "table" or #snippets == 0 then
    table.insert(lines, "No snippets from other files would be used here.")
  else
    for i, s in ipairs(snippets) do
      local where = {}
      for _, k in ipairs({ "path", "uri", "file", "source", "kind" }) do
        if type(s[k]) == "string" then
          table.insert(where, s[k])
        end
      end
      local head = ("## %d. %s"):format(i, #where > 0 and table.concat(where, " · ") or "snippet")
      if type(s.score) == "number" then
        head = head .. (" (score %.3f)"):format(s.score)
      end
      table.insert(lines, head)
      table.insert(lines, "")
      local text = s.text or s.content
      if type(text) == "string" then
        table.insert(lines, "```")
        vim.list_extend(lines, vim.split(text, "\n", { plain = true }))
        table.insert(lines, "```")
      else
        vim.list_extend(lines, vim.split(vim.inspect(s), "\n", { plain = true }))
      end
      table.insert(lines, "")
    end
  end
  if type(result) == "table" then
    local rest = vim.deepcopy(result)
    rest.snippets = nil
    if next(rest) ~= nil then
      table.insert(lines, "## Details")
      table.insert(lines, "")
      vim.list_extend(lines, vim.split(vim.inspect(rest), "\n", { plain = true }))
    end
  end
  return lines
end

local function need_client()
  local client = M.get_client()
  if not client then
    vim.notify("qwen-ls: not attached to this buffer (see :checkhealth qwen_ls)", vim.log.levels.WARN)
  end
  return client
end

local function execute(client, command, arguments, cb)
  util.request(client, "workspace/executeCommand", { command = command, arguments = arguments }, function(err, result)
    if err then
      vim.notify(("qwen-ls: %s failed: %s"):format(command, err.message or vim.inspect(err)), vim.log.levels.ERROR)
      return
    end
    cb(result)
  end, api.nvim_get_current_buf())
end

function M.explain()
  local client = need_client()
  if not client then
    return
  end
  local params = util.position_params(0, client)
  execute(client, "qwen.explainContext", { params.textDocument.uri, params.position }, function(result)
    show_scratch("qwen-ls://explain", M.format_explanation(result, params.textDocument.uri, params.position))
  end)
end

--- The diagnostics on the cursor line from every source (other language servers, linters), as LSP
--- diagnostics in the client's position encoding. `vim.lsp.buf.code_action()` sends a server only its
--- own diagnostics, and qwen-ls publishes none: its fixes are for everyone else's.
function M.line_diagnostics(bufnr, client)
  local lnum = api.nvim_win_get_cursor(0)[1] - 1
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = lnum })) do
    local lsp = d.user_data and d.user_data.lsp
    if type(lsp) ~= "table" or not lsp.range then
      local first = api.nvim_buf_get_lines(bufnr, d.lnum, d.lnum + 1, false)[1] or ""
      local end_lnum = d.end_lnum or d.lnum
      local last = api.nvim_buf_get_lines(bufnr, end_lnum, end_lnum + 1, false)[1] or ""
      lsp = {
        range = {
          start = { line = d.lnum, character = util.lsp_col(first, d.col or 0, client.offset_encoding) },
          ["end"] = { line = end_lnum, character = util.lsp_col(last, d.end_col or d.col or 0, client.offset_encoding) },
        },
        message = d.message,
        severity = d.severity,
        source = d.source,
        code = d.code,
      }
    end
    table.insert(out, lsp)
  end
  return out
end

--- "Fix with Qwen" for the diagnostics on the cursor line (:QwenLs fix).
function M.fix()
  local client = need_client()
  if not client then
    return
  end
  local bufnr = api.nvim_get_current_buf()
  local diagnostics = M.line_diagnostics(bufnr, client)
  if #diagnostics == 0 then
    vim.notify("qwen-ls: no diagnostics on this line", vim.log.levels.INFO)
    return
  end
  vim.lsp.buf.code_action({
    context = { diagnostics = diagnostics, only = { "quickfix" } },
    filter = function(_, client_id)
      return client_id == nil or client_id == client.id
    end,
    apply = true,
  })
end

function M.stats()
  local client = need_client()
  if not client then
    return
  end
  execute(client, "qwen.stats", {}, function(result)
    local ok, json = pcall(vim.json.encode, result)
    local lines = vim.split(ok and vim.inspect(result) or tostring(json), "\n", { plain = true })
    show_scratch("qwen-ls://stats", lines, "lua")
  end)
end

--- Lines for :QwenLs status.
function M.status_lines()
  local lines = {}
  local clients = vim.lsp.get_clients({ name = M.name })
  if #clients == 0 then
    table.insert(lines, "qwen-ls: no server running" .. (M.options and "" or " (setup() was not called)"))
  end
  for _, client in ipairs(clients) do
    local st = M.status[client.id] or {}
    table.insert(
      lines,
      ("qwen-ls client %d: %s, model %s%s%s"):format(
        client.id,
        tostring(st.state or "starting"),
        tostring(st.model or "?"),
        type(st.lastLatencyMs) == "number" and (", last latency %d ms"):format(st.lastLatencyMs) or "",
        st.message and (" — " .. st.message) or ""
      )
    )
    table.insert(lines, ("  root %s, cmd %s"):format(tostring(client.root_dir or client.config.root_dir), table.concat(client.config.cmd or {}, " ")))
  end
  if M.options then
    table.insert(
      lines,
      ("ghost text: %s, streaming %s, completions %s, requests %d, cancelled %d, shown %d, accepted %d"):format(
        M.options.ghost_text,
        tostring(M.options.streaming),
        util.disabled and "off" or "on",
        ghost.counters.requests,
        ghost.counters.cancels,
        ghost.counters.shown,
        ghost.counters.accepted
      )
    )
  end
  for _, p in ipairs(M.problems) do
    table.insert(lines, "option problem: " .. p)
  end
  return lines
end

--- Stops the server and starts it again for every buffer it should serve.
function M.restart()
  local clients = vim.lsp.get_clients({ name = M.name })
  for _, client in ipairs(clients) do
    for bufnr in pairs(client.attached_buffers or {}) do
      on_detach(bufnr)
    end
    util.stop(client)
  end
  local function start_all()
    for _, bufnr in ipairs(api.nvim_list_bufs()) do
      if api.nvim_buf_is_loaded(bufnr) then
        M.attach(bufnr)
      end
    end
  end
  vim.wait(3000, function()
    for _, c in ipairs(clients) do
      if not util.is_stopped(c) then
        return false
      end
    end
    return true
  end, 20)
  start_all()
end

function M.enable(on)
  util.disabled = not on
  if not on then
    for bufnr in pairs(ghost.state) do
      ghost.reset(bufnr)
    end
  end
end

local subcommands = {
  status = function()
    vim.notify(table.concat(M.status_lines(), "\n"), vim.log.levels.INFO)
  end,
  explain = M.explain,
  stats = M.stats,
  fix = M.fix,
  restart = M.restart,
  enable = function()
    M.enable(true)
  end,
  disable = function()
    M.enable(false)
  end,
  toggle = function()
    M.enable(util.disabled)
  end,
  log = function()
    vim.cmd("tabnew " .. vim.fn.fnameescape(vim.lsp.get_log_path()))
  end,
}

local function define_highlight()
  api.nvim_set_hl(0, "QwenLsGhost", { link = "Comment", default = true })
end

---@param opts table|nil see qwen_ls.config.defaults
function M.setup(opts)
  local options, problems = config.merge(opts)
  M.options = options
  M.problems = problems
  ghost.options = options
  ghost.get_client = M.get_client
  for _, p in ipairs(problems) do
    vim.notify("qwen-ls: " .. p, vim.log.levels.WARN)
  end
  define_highlight()
  api.nvim_clear_autocmds({ group = augroup })
  api.nvim_create_autocmd("ColorScheme", { group = augroup, callback = define_highlight })
  api.nvim_create_autocmd("FileType", {
    group = augroup,
    pattern = options.filetypes == "*" and "*" or options.filetypes,
    callback = function(ev)
      M.attach(ev.buf)
    end,
  })
  api.nvim_create_autocmd("LspAttach", {
    group = augroup,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if client and client.name == M.name then
        on_attach(ev.buf, client)
      end
    end,
  })
  api.nvim_create_autocmd("LspDetach", {
    group = augroup,
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if not client or client.name ~= M.name then
        return
      end
      -- after a restart the new client may already be attached: keep its keys and autocommands
      for _, other in ipairs(vim.lsp.get_clients({ bufnr = ev.buf, name = M.name })) do
        if other.id ~= client.id then
          return
        end
      end
      on_detach(ev.buf)
    end,
  })
  api.nvim_create_user_command("QwenLs", function(cmd)
    local fn = subcommands[cmd.fargs[1] or "status"]
    if not fn then
      vim.notify(
        "qwen-ls: unknown subcommand " .. cmd.fargs[1] .. " (status, explain, stats, fix, restart, enable, disable, toggle, log)",
        vim.log.levels.ERROR
      )
      return
    end
    fn()
  end, {
    nargs = "?",
    complete = function()
      return vim.tbl_keys(subcommands)
    end,
    desc = "qwen-ls: status | explain | stats | fix | restart | enable | disable | toggle | log",
  })
  -- buffers already open when setup() runs (lazy loading)
  for _, bufnr in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(bufnr) and vim.bo[bufnr].filetype ~= "" then
      M.attach(bufnr)
    end
  end
end

-- exposed for keymaps of your own: require("qwen_ls").accept("word")
function M.accept(how)
  return ghost.accept(how or "all")
end
function M.dismiss()
  return ghost.dismiss()
end
function M.suggest()
  return ghost.request(api.nvim_get_current_buf(), true)
end
function M.visible()
  return ghost.visible()
end

return M

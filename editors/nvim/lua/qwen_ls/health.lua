--- :checkhealth qwen_ls
local M = {}

local health = vim.health

function M.check()
  health.start("qwen_ls: Neovim")
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. " is too old", { "qwen_ls needs Neovim 0.10 or later" })
  end
  if vim.lsp.inline_completion and vim.fn.has("nvim-0.12") == 1 then
    health.info("vim.lsp.inline_completion is available (Neovim 0.12+)")
  else
    health.info("no vim.lsp.inline_completion: the plugin draws ghost text itself")
  end

  health.start("qwen_ls: setup")
  local qwen = require("qwen_ls")
  local opts = qwen.options
  if not opts then
    health.error("setup() was not called", { 'Add require("qwen_ls").setup({}) to your config' })
    return
  end
  health.ok(("ghost text: %s, streaming: %s, auto trigger: %s, debounce %d ms"):format(
    opts.ghost_text,
    tostring(opts.streaming),
    tostring(opts.auto_trigger),
    opts.debounce_ms
  ))
  for _, p in ipairs(qwen.problems or {}) do
    health.warn(p)
  end
  local keys = {}
  for name, lhs in pairs(opts.keymaps or {}) do
    if lhs then
      table.insert(keys, name .. " " .. lhs)
    end
  end
  table.sort(keys)
  health.info("insert-mode keys (buffer-local): " .. table.concat(keys, ", "))

  health.start("qwen_ls: server")
  local cmd = require("qwen_ls.config").cmd(opts)
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 then
    health.ok(("%s found: %s"):format(exe, vim.fn.exepath(exe)))
    local ok, res = pcall(function()
      return vim.system({ exe, "--version" }, { text = true }):wait(10000)
    end)
    if ok and res and res.code == 0 then
      health.ok(vim.trim(res.stdout ~= "" and res.stdout or res.stderr))
    else
      health.warn(("`%s --version` failed"):format(exe), { "Run it in a terminal to see why" })
    end
  else
    health.error(("%s is not executable or not on PATH"):format(exe), {
      "Install the server: git clone https://github.com/qwen-ls/qwen-ls && python3 -m pip install ./qwen-ls",
      'or point the plugin at it: require("qwen_ls").setup({ server_path = "/path/to/qwen-ls" })',
    })
  end
  local clients = vim.lsp.get_clients({ name = qwen.name })
  if #clients == 0 then
    health.info("no qwen-ls server running (it starts when you open a file of a configured filetype)")
  end
  for _, client in ipairs(clients) do
    local st = qwen.status[client.id]
    if not st then
      health.warn(("client %d: no qwen/status received yet"):format(client.id))
    elseif st.state == "error" then
      health.error(("client %d: %s"):format(client.id, st.message or "error"), { "See :QwenLs log" })
    else
      health.ok(("client %d: %s, model %s"):format(client.id, st.state, tostring(st.model)))
    end
    local caps = client.server_capabilities or {}
    if caps.inlineCompletionProvider then
      health.ok("server offers textDocument/inlineCompletion")
    else
      health.error("server does not offer textDocument/inlineCompletion")
    end
  end
  health.info("LSP log: " .. vim.lsp.get_log_path())
end

return M

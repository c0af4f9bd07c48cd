--- Options of the qwen-ls Neovim plugin: defaults, merging and validation.
local M = {}

---@class qwen_ls.Keymaps
---@field accept string|false      accept the whole suggestion
---@field accept_line string|false accept up to the end of the current suggestion line
---@field accept_word string|false accept the next word
---@field dismiss string|false     hide the suggestion (no new one until you type)
---@field suggest string|false     ask for a suggestion now (also when auto_trigger is off)

---@class qwen_ls.Options
M.defaults = {
  --- The server command; nil: { server_path, "serve" }.
  cmd = nil,
  --- The qwen-ls executable (a name on PATH or a full path).
  server_path = "qwen-ls",
  --- Filetypes to start the server for, or "*" for every file buffer.
  filetypes = {
    "python", "javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java",
    "c", "cpp", "cs", "lua", "ruby", "php", "kotlin", "swift", "scala", "sh", "bash", "zsh", "html",
    "css", "scss", "vue", "svelte", "sql", "yaml", "toml", "json", "dockerfile", "make", "cmake",
  },
  --- Files or directories that mark the workspace root (the nearest upwards wins; else the cwd).
  root_markers = { ".git", "pyproject.toml", "setup.py", "package.json", "Cargo.toml", "go.mod", "pom.xml" },
  --- Server settings, camelCase as in the README (model, completion = { maxTokens = ... }, ...): sent as
  --- initializationOptions and as the answer to workspace/configuration (section "qwen").
  settings = {},
  --- "auto": vim.lsp.inline_completion on Neovim 0.12+ (unless streaming is on), else the plugin's own
  --- ghost text; "native" or "plugin" force one.
  ghost_text = "auto",
  --- Ask for a suggestion as you type; false: only with keymaps.suggest.
  auto_trigger = true,
  --- Milliseconds of typing pause before a request (the server also debounces; keep this small).
  debounce_ms = 75,
  --- Show the suggestion while the model writes it (qwen/partialCompletion). nil: on whenever the
  --- plugin draws the ghost text itself.
  streaming = nil,
  ---@type qwen_ls.Keymaps
  keymaps = {
    accept = "<M-l>",
    accept_line = "<M-Down>",
    accept_word = "<M-Right>",
    dismiss = "<C-]>",
    suggest = "<M-\\>",
  },
  --- Highlight group of the ghost text (default: linked to Comment).
  hl_group = "QwenLsGhost",
  --- Buffers larger than this many bytes get no suggestions.
  max_buffer_bytes = 2000000,
}

---@type qwen_ls.Options
M.options = vim.deepcopy(M.defaults)

local function has_native()
  return vim.lsp.inline_completion ~= nil and vim.fn.has("nvim-0.12") == 1
end

---@param opts table|nil
---@return table options, string[] problems
function M.merge(opts)
  local problems = {}
  opts = opts or {}
  local merged = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  -- lists replace, not merge
  if opts.filetypes ~= nil then
    merged.filetypes = opts.filetypes
  end
  if opts.root_markers ~= nil then
    merged.root_markers = opts.root_markers
  end
  if not vim.tbl_contains({ "auto", "native", "plugin" }, merged.ghost_text) then
    table.insert(problems, ("ghost_text must be \"auto\", \"native\" or \"plugin\", not %s"):format(vim.inspect(merged.ghost_text)))
    merged.ghost_text = "auto"
  end
  if merged.ghost_text == "native" and not has_native() then
    table.insert(problems, "ghost_text = \"native\" needs Neovim 0.12+ (vim.lsp.inline_completion); using the plugin's ghost text")
    merged.ghost_text = "plugin"
  end
  if merged.ghost_text == "auto" then
    merged.ghost_text = (has_native() and merged.streaming ~= true) and "native" or "plugin"
  end
  if merged.streaming == nil then
    merged.streaming = merged.ghost_text == "plugin"
  end
  if merged.streaming and merged.ghost_text == "native" then
    table.insert(problems, "streaming needs the plugin's ghost text; set ghost_text = \"plugin\" (streaming is off)")
    merged.streaming = false
  end
  if type(merged.debounce_ms) ~= "number" or merged.debounce_ms < 0 then
    table.insert(problems, "debounce_ms must be a number >= 0")
    merged.debounce_ms = M.defaults.debounce_ms
  end
  if merged.filetypes ~= "*" and type(merged.filetypes) ~= "table" then
    table.insert(problems, "filetypes must be a list or \"*\"")
    merged.filetypes = M.defaults.filetypes
  end
  return merged, problems
end

--- The server command from the options.
---@param options table
---@return string[]
function M.cmd(options)
  if options.cmd then
    return options.cmd
  end
  return { options.server_path or "qwen-ls", "serve" }
end

--- initializationOptions: the server settings, with the streaming opt-in.
---@param options table
---@return table
function M.init_options(options)
  local settings = vim.deepcopy(options.settings or {})
  settings.streaming = options.streaming and true or false
  return settings
end

return M

--- The plugin's own ghost text (Neovim 0.10/0.11, or ghost_text = "plugin"): requests
--- textDocument/inlineCompletion after a typing pause, cancels the request in flight on further typing,
--- draws the suggestion with extmarks (first line inline, the rest as virtual lines), follows text the
--- user types along, shows streamed text (qwen/partialCompletion), and accepts all / a line / a word.
local util = require("qwen_ls.util")

local M = {}

local api = vim.api
local uv = vim.uv or vim.loop

M.ns = api.nvim_create_namespace("qwen_ls.ghost")

---@class qwen_ls.Request
---@field client_id integer
---@field id integer
---@field tick integer      b:changedtick when sent
---@field row integer       0-based cursor row when sent
---@field col integer       cursor byte column when sent
---@field uri string
---@field version integer   LSP document version when sent
---@field position table    LSP position when sent

---@class qwen_ls.Suggestion
---@field row integer
---@field col integer        byte column where the ghost text starts (the cursor)
---@field text string        text still to insert
---@field replace_len integer bytes after the cursor that the completion replaces (e.g. an auto-closed ")")
---@field tick integer
---@field partial boolean    streamed text, the final answer still to come
---@field client_id integer
---@field command table|nil  item.command, run after a full accept
---@field extmark integer|nil

---@class qwen_ls.BufState
---@field timer uv.uv_timer_t|nil
---@field req qwen_ls.Request|nil
---@field sug qwen_ls.Suggestion|nil
---@field own_tick integer|nil  b:changedtick after our own edit (accepting), not a user change

---@type table<integer, qwen_ls.BufState>
M.state = {}

--- Counters for tests and :QwenLs status.
M.counters = { requests = 0, cancels = 0, shown = 0, partials = 0, accepted = 0 }

M.options = nil ---@type table|nil
M.get_client = nil ---@type fun(bufnr: integer): table|nil

---@param bufnr integer
---@return qwen_ls.BufState
local function buf_state(bufnr)
  local s = M.state[bufnr]
  if not s then
    s = {}
    M.state[bufnr] = s
  end
  return s
end

local function in_insert_mode()
  local mode = api.nvim_get_mode().mode
  return mode:sub(1, 1) == "i"
end

local function cursor(bufnr)
  local win = api.nvim_get_current_win()
  if api.nvim_win_get_buf(win) ~= bufnr then
    return nil
  end
  local pos = api.nvim_win_get_cursor(win)
  return pos[1] - 1, pos[2]
end

local function clear_extmark(bufnr, s)
  if s.sug and s.sug.extmark and api.nvim_buf_is_valid(bufnr) then
    pcall(api.nvim_buf_del_extmark, bufnr, M.ns, s.sug.extmark)
  end
end

--- Removes the suggestion shown in a buffer.
function M.clear(bufnr)
  local s = M.state[bufnr]
  if not s then
    return
  end
  clear_extmark(bufnr, s)
  s.sug = nil
end

--- Cancels the request in flight (sends $/cancelRequest).
function M.cancel(bufnr)
  local s = M.state[bufnr]
  if not s then
    return
  end
  if s.timer then
    s.timer:stop()
  end
  local req = s.req
  s.req = nil
  if req then
    local client = vim.lsp.get_client_by_id(req.client_id)
    if client then
      util.cancel_request(client, req.id)
      M.counters.cancels = M.counters.cancels + 1
    end
  end
end

local function render(bufnr, sug)
  local lines = vim.split(sug.text, "\n", { plain = true })
  local hl = (M.options and M.options.hl_group) or "QwenLsGhost"
  local opts = {
    virt_text = { { lines[1], hl } },
    virt_text_pos = "inline",
    hl_mode = "combine",
    right_gravity = false,
  }
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      table.insert(virt_lines, { { lines[i], hl } })
    end
    opts.virt_lines = virt_lines
  end
  if sug.extmark then
    opts.id = sug.extmark
  end
  local ok, id = pcall(api.nvim_buf_set_extmark, bufnr, M.ns, sug.row, sug.col, opts)
  if ok then
    sug.extmark = id
  end
end

--- Turns an LSP inline completion item into a suggestion at the cursor, or nil when it does not fit.
---@return qwen_ls.Suggestion|nil
local function to_suggestion(bufnr, client, item, row, col)
  local text = item.insertText
  if type(text) == "table" then
    text = text.value -- a snippet string: shown and inserted as plain text
  end
  if type(text) ~= "string" or text == "" then
    return nil
  end
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local start_col, end_col = col, col
  if item.range then
    local r = item.range
    if r.start.line ~= row or r["end"].line ~= row then
      return nil
    end
    start_col = util.byte_col(line, r.start.character, client.offset_encoding)
    end_col = util.byte_col(line, r["end"].character, client.offset_encoding)
  end
  if start_col > col then
    return nil
  end
  local typed = line:sub(start_col + 1, col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  text = text:sub(#typed + 1)
  if text == "" then
    return nil
  end
  return {
    row = row,
    col = col,
    text = text,
    replace_len = math.max(end_col - col, 0),
    tick = api.nvim_buf_get_changedtick(bufnr),
    partial = false,
    client_id = client.id,
    command = item.command,
  }
end

local function show(bufnr, sug)
  local s = buf_state(bufnr)
  if s.sug and s.sug.extmark then
    sug.extmark = s.sug.extmark
  end
  s.sug = sug
  render(bufnr, sug)
  M.counters.shown = M.counters.shown + 1
  pcall(api.nvim_exec_autocmds, "User", { pattern = "QwenLsSuggestion", modeline = false })
end

--- True while the request still describes the buffer and cursor.
local function still_current(bufnr, req)
  if not api.nvim_buf_is_valid(bufnr) or not in_insert_mode() then
    return false
  end
  local row, col = cursor(bufnr)
  return row == req.row and col == req.col and api.nvim_buf_get_changedtick(bufnr) == req.tick
end

--- Buffers over `max_buffer_bytes` get no requests (the server would refuse them too).
function M.too_big(bufnr)
  local max = M.options and M.options.max_buffer_bytes
  if type(max) ~= "number" or max <= 0 then
    return false
  end
  return api.nvim_buf_get_offset(bufnr, api.nvim_buf_line_count(bufnr)) > max
end

--- Sends textDocument/inlineCompletion for the cursor position.
---@param bufnr integer
---@param invoked boolean|nil an explicit request (keymap) rather than typing
function M.request(bufnr, invoked)
  bufnr = bufnr or api.nvim_get_current_buf()
  local client = M.get_client and M.get_client(bufnr)
  if not client or not in_insert_mode() or M.too_big(bufnr) then
    return
  end
  local row, col = cursor(bufnr)
  if not row then
    return
  end
  M.cancel(bufnr)
  local s = buf_state(bufnr)
  local win = api.nvim_get_current_win()
  local params = util.position_params(win, client)
  params.context = { triggerKind = invoked and 1 or 2 }
  local tick = api.nvim_buf_get_changedtick(bufnr)
  ---@type qwen_ls.Request
  local req = {
    client_id = client.id,
    id = -1,
    tick = tick,
    row = row,
    col = col,
    uri = params.textDocument.uri,
    version = 0,
    position = params.position,
  }
  local ok, id = util.request(client, "textDocument/inlineCompletion", params, function(err, result)
    if s.req ~= req then
      return -- superseded or cancelled
    end
    s.req = nil
    if err then
      if err.code ~= -32800 then
        vim.lsp.log.warn("qwen_ls: inlineCompletion failed: " .. tostring(err.message))
      end
      return
    end
    if not still_current(bufnr, req) then
      return
    end
    local items = result and (result.items or result) or {}
    local item = items[1]
    local sug = item and to_suggestion(bufnr, client, item, row, col)
    if sug then
      show(bufnr, sug)
    elseif s.sug and s.sug.partial then
      M.clear(bufnr) -- the final answer withdrew what was streamed
    end
  end, bufnr)
  if not ok or not id then
    return
  end
  req.id = id
  -- buf_versions is updated on every change; the request flushed any pending didChange first
  req.version = (vim.lsp.util.buf_versions or {})[bufnr] or 0
  s.req = req
  M.counters.requests = M.counters.requests + 1
end

--- qwen/partialCompletion: the whole text generated so far for the request in flight.
function M.on_partial(params)
  if type(params) ~= "table" or type(params.uri) ~= "string" or type(params.text) ~= "string" then
    return
  end
  local bufnr = vim.uri_to_bufnr(params.uri)
  local s = M.state[bufnr]
  local req = s and s.req
  if not req or req.uri ~= params.uri or req.version ~= params.version then
    return
  end
  if
    type(params.position) ~= "table"
    or params.position.line ~= req.position.line
    or params.position.character ~= req.position.character
  then
    return
  end
  if params.done or not still_current(bufnr, req) then
    return
  end
  local client = vim.lsp.get_client_by_id(req.client_id)
  if not client then
    return
  end
  local sug = to_suggestion(bufnr, client, { insertText = params.text }, req.row, req.col)
  if sug then
    sug.partial = true
    M.counters.partials = M.counters.partials + 1
    show(bufnr, sug)
  end
end

--- Schedules a request after the debounce delay, cancelling what is in flight.
function M.schedule(bufnr)
  local s = buf_state(bufnr)
  M.cancel(bufnr)
  if not M.options or not M.options.auto_trigger or not util.enabled(bufnr) then
    return
  end
  if not s.timer then
    s.timer = uv.new_timer()
  end
  local tick = api.nvim_buf_get_changedtick(bufnr)
  s.timer:start(
    M.options.debounce_ms,
    0,
    vim.schedule_wrap(function()
      if api.nvim_buf_is_valid(bufnr) and api.nvim_get_current_buf() == bufnr and api.nvim_buf_get_changedtick(bufnr) == tick then
        M.request(bufnr, false)
      end
    end)
  )
end

--- The text the user typed since the suggestion was drawn, when it is a prefix of the suggestion.
local function typed_along(bufnr, sug)
  local row, col = cursor(bufnr)
  if row ~= sug.row or col <= sug.col then
    return nil
  end
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local typed = line:sub(sug.col + 1, col)
  if typed ~= "" and sug.text:sub(1, #typed) == typed then
    return typed
  end
  return nil
end

--- TextChangedI / TextChangedP.
function M.on_text_changed(bufnr)
  local s = buf_state(bufnr)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  if s.own_tick == tick then
    return -- our own insertion
  end
  local sug = s.sug
  if sug and not sug.partial then
    local typed = typed_along(bufnr, sug)
    if typed then
      sug.text = sug.text:sub(#typed + 1)
      sug.col = sug.col + #typed
      sug.tick = tick
      if sug.text == "" then
        M.clear(bufnr)
      else
        render(bufnr, sug)
        return
      end
    end
  end
  M.clear(bufnr)
  M.schedule(bufnr)
end

--- CursorMovedI: moving away without typing drops the suggestion and the request.
function M.on_cursor_moved(bufnr)
  local s = M.state[bufnr]
  if not s then
    return
  end
  local tick = api.nvim_buf_get_changedtick(bufnr)
  if tick ~= (s.sug and s.sug.tick or tick) or (s.req and s.req.tick ~= tick) then
    return -- a text change: TextChangedI decides
  end
  local row, col = cursor(bufnr)
  if s.sug and (row ~= s.sug.row or col ~= s.sug.col) then
    M.clear(bufnr)
  end
  if s.req and (row ~= s.req.row or col ~= s.req.col) then
    M.cancel(bufnr)
  end
end

--- InsertLeave, BufLeave, detach.
function M.reset(bufnr)
  M.cancel(bufnr)
  M.clear(bufnr)
end

function M.detach(bufnr)
  M.reset(bufnr)
  local s = M.state[bufnr]
  if s and s.timer then
    s.timer:stop()
    s.timer:close()
  end
  M.state[bufnr] = nil
end

function M.visible(bufnr)
  local s = M.state[bufnr or api.nvim_get_current_buf()]
  return s ~= nil and s.sug ~= nil
end

--- The suggestion text shown (for statuslines and tests).
function M.text(bufnr)
  local s = M.state[bufnr or api.nvim_get_current_buf()]
  return s and s.sug and s.sug.text or nil
end

--- Inserts `piece` (a prefix of the suggestion) at the cursor; keeps the rest shown.
local function insert_piece(bufnr, piece)
  local s = M.state[bufnr]
  local sug = s.sug
  local rest = sug.text:sub(#piece + 1)
  local lines = vim.split(piece, "\n", { plain = true })
  local row, col = sug.row, sug.col
  local replace_len = rest == "" and sug.replace_len or 0
  local line = api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  local end_col = math.min(col + replace_len, #line)
  clear_extmark(bufnr, s)
  sug.extmark = nil
  -- a request still in flight (streamed text) is for a position that is about to be stale
  M.cancel(bufnr)
  api.nvim_buf_set_text(bufnr, row, col, row, end_col, lines)
  local new_row = row + #lines - 1
  local new_col = (#lines == 1 and col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { new_row + 1, new_col })
  s.own_tick = api.nvim_buf_get_changedtick(bufnr)
  if rest == "" then
    s.sug = nil
    M.counters.accepted = M.counters.accepted + 1
    local client = sug.command and vim.lsp.get_client_by_id(sug.client_id)
    if client then
      util.exec_cmd(client, sug.command, bufnr)
    end
  else
    sug.row, sug.col, sug.text, sug.tick = new_row, new_col, rest, s.own_tick
    render(bufnr, sug)
  end
end

--- The next word of `text`: leading blanks plus a run of word characters, or one other character;
--- a line break on its own.
function M.next_word(text)
  if text:sub(1, 1) == "\n" then
    return "\n"
  end
  return text:match("^[ \t]*[%w_]+") or text:match("^[ \t]*[^%w_%s]") or text:match("^[ \t]+") or text:sub(1, 1)
end

--- The rest of the current suggestion line; a suggestion that starts with a line break gives the break
--- and the next line.
function M.next_line(text)
  local first = text:match("^[^\n]*")
  if first == "" and text:sub(1, 1) == "\n" then
    return "\n" .. (text:sub(2):match("^[^\n]*") or "")
  end
  return first
end

---@param how "all"|"line"|"word"
---@return boolean accepted
function M.accept(how, bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local s = M.state[bufnr]
  if not s or not s.sug then
    return false
  end
  local text = s.sug.text
  local piece = text
  if how == "line" then
    piece = M.next_line(text)
  elseif how == "word" then
    piece = M.next_word(text)
  end
  if piece == "" then
    return false
  end
  insert_piece(bufnr, piece)
  return true
end

--- Hides the suggestion and cancels the request; nothing new is asked until the next change.
function M.dismiss(bufnr)
  bufnr = bufnr or api.nvim_get_current_buf()
  local had = M.visible(bufnr) or (M.state[bufnr] and M.state[bufnr].req ~= nil)
  M.reset(bufnr)
  return had
end

return M

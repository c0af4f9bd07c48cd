--- Small helpers that smooth over Neovim 0.10 / 0.11 / 0.12 API differences.
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- client:request (0.11+) or client.request (0.10); returns ok, request_id.
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.cancel_request(client, id)
  if has_011 then
    return client:cancel_request(id)
  end
  return client.cancel_request(id)
end

function M.stop(client, force)
  if has_011 then
    return client:stop(force)
  end
  return client.stop(force)
end

function M.is_stopped(client)
  if has_011 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

function M.exec_cmd(client, command, bufnr)
  if has_011 and client.exec_cmd then
    return client:exec_cmd(command, { bufnr = bufnr })
  end
  if client._exec_cmd then
    return client:_exec_cmd(command, { bufnr = bufnr })
  end
end

--- Position params in the client's encoding.
function M.position_params(win, client)
  return vim.lsp.util.make_position_params(win, client.offset_encoding)
end

--- Byte column of an LSP `character` on `line`, in the given position encoding.
---@param line string
---@param character integer
---@param encoding string|nil "utf-8" | "utf-16" | "utf-32"
function M.byte_col(line, character, encoding)
  encoding = encoding or "utf-16"
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col
  if has_011 then
    ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  end
  if ok and col then
    return col
  end
  return #line
end

--- LSP `character` of a byte column on `line`, in the given position encoding.
function M.lsp_col(line, byte_col, encoding)
  encoding = encoding or "utf-16"
  byte_col = math.min(byte_col, #line)
  if encoding == "utf-8" then
    return byte_col
  end
  local ok, col
  if has_011 then
    ok, col = pcall(vim.str_utfindex, line, encoding, byte_col, false)
  else
    local ok32, utf32, utf16 = pcall(vim.str_utfindex, line, byte_col)
    ok, col = ok32, encoding == "utf-32" and utf32 or utf16
  end
  if ok and col then
    return col
  end
  return byte_col
end

--- Completions on (the plugin-level switch; the server also has settings.enable).
M.disabled = false

function M.enabled(_bufnr)
  return not M.disabled
end

return M

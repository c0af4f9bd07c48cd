"""The LSP base layer under pygls: framing, message checks and errors (`jsonrpc`), the main loop
(`serve`), positions in the negotiated encoding (`positions`) and the open documents (`documents`)."""

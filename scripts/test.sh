#!/usr/bin/env bash
# Runs everything that must pass before a change lands: formatting, lints, unit tests and the
# end-to-end tests (which start the real binary on loopback). Installs what the tests need
# when it is missing, so it works on a fresh Debian machine with the Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

# Test prerequisites beyond the Rust toolchain. Later issues add services (PostgreSQL, Redis,
# Chromium); each is installed from Debian's packages when missing and started on loopback.
if ! cargo nextest --version >/dev/null 2>&1; then
    step "installing cargo-nextest"
    cargo install cargo-nextest --locked
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "tests (unit + end-to-end)"
cargo nextest run --locked --no-fail-fast

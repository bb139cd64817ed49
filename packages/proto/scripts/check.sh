#!/usr/bin/env bash
# proto:check: lint and format-check the .proto sources, regenerate src/gen and fail when the committed code
# differs from what the sources produce. Run through npm, which puts buf and protoc-gen-es on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

buf lint
buf format --diff --exit-code
buf generate
if ! git diff --exit-code -- src/gen || [ -n "$(git ls-files --others --exclude-standard -- src/gen)" ]; then
  echo "proto:check: src/gen does not match proto/; run 'npm run generate -w @topolvm/proto' and commit src/gen" >&2
  exit 1
fi

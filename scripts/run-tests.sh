#!/usr/bin/env bash
# Every test tier, in order: lint + types, unit (Node), gpu (Node + Dawn on a Vulkan driver), e2e (Chromium +
# WebGPU). Each tier runs even when an earlier one failed; the last line sums them up as "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-results
rm -f test-results/unit.json test-results/gpu.json test-results/e2e.json
status=0
step() { echo; echo "=== $1"; }

step "lint, format and types"
npx eslint . || status=1
npx prettier --check . || status=1
npx tsc --noEmit -p . || status=1

step "unit tier"
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=test-results/unit.json || status=1

step "gpu tier"
scripts/with-vulkan.sh npx vitest run --project gpu --reporter=default --reporter=json --outputFile.json=test-results/gpu.json || status=1

step "e2e tier"
PLAYWRIGHT_JSON_OUTPUT_NAME=test-results/e2e.json npx playwright test --reporter=list,json || status=1

node scripts/summarize-tests.mjs test-results/unit.json test-results/gpu.json test-results/e2e.json || status=1
exit $status

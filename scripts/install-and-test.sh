#!/usr/bin/env bash
# From a fresh clone on Debian/Ubuntu with Node 20: install what the tests need, then run every tier.
#  - Chromium (Debian's package) for the e2e tier; it also ships SwiftShader's Vulkan driver.
#  - libvulkan1, the Vulkan loader that Dawn (npm `webgpu`) needs in Node.
#  - Mesa's lavapipe from Debian backports, unpacked into /tmp (no system change): a CPU Vulkan driver about 20x
#    faster than SwiftShader for compute. If it cannot be had, the gpu tier runs on SwiftShader instead.
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1 ' || missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (apt)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ -z "${VK_ICD_FILENAMES:-}" ] && ! ls /dev/dri/renderD* /dev/nvidia0 >/dev/null 2>&1; then
  scripts/lavapipe.sh "${MOE_LAB_LAVAPIPE_DIR:-/tmp/lavapipe}" >/dev/null || echo "lavapipe unavailable: the gpu tier uses SwiftShader"
fi
npm ci --no-audit --no-fund
exec bash scripts/run-tests.sh

#!/usr/bin/env bash
# Runs a command with a Vulkan driver for Dawn (npm `webgpu`): the machine's own GPU driver when one is installed,
# else Mesa's lavapipe when scripts/lavapipe.sh has unpacked it (about 20x faster than SwiftShader for compute),
# else SwiftShader from Debian's chromium package. VK_ICD_FILENAMES set by the caller always wins.
set -euo pipefail
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -z "${VK_DRIVER_FILES:-}" ]; then
  # A GPU shows up as a DRM render node or an NVIDIA device file; ICD files alone prove nothing (mesa ships them).
  if ls /dev/dri/renderD* /dev/nvidia0 >/dev/null 2>&1; then
    : # let the Vulkan loader pick the installed GPU driver
  elif [ -f "${MOE_LAB_LAVAPIPE_DIR:-/tmp/lavapipe}/lvp.json" ]; then
    eval "$("$(dirname "$0")/lavapipe.sh" "${MOE_LAB_LAVAPIPE_DIR:-/tmp/lavapipe}")"
  elif [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
    export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
  fi
fi
exec "$@"

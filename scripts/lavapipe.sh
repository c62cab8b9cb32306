#!/usr/bin/env bash
# Unpack Mesa's lavapipe (a CPU Vulkan driver, ~20x faster than SwiftShader for compute here) from Debian 12's
# backports into a folder, without installing anything system-wide, and print the environment that makes Dawn
# (npm `webgpu`) use it. Usage: eval "$(scripts/lavapipe.sh [DIR])"   (default DIR: /tmp/lavapipe)
# Debian 12's own mesa (22.3) is too old for Dawn; the backport (25.x) works (checked on this machine kind).
set -euo pipefail
dir=${1:-/tmp/lavapipe}
if [ ! -f "$dir/lvp.json" ]; then
  mkdir -p "$dir/lists/partial" "$dir/debs" "$dir/root"
  src=/etc/apt/sources.list.d/debian.sources
  # same mirror as the system's own list, backports suite only
  awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm bookworm-updates/' "$src" \
    | sed 's/^Suites: .*/Suites: bookworm-backports/' > "$dir/backports.sources"
  o="-o Dir::Etc::sourcelist=$dir/backports.sources -o Dir::Etc::sourceparts=/dev/null -o Dir::State::Lists=$dir/lists"
  apt-get $o update -qq >&2
  (cd "$dir/debs" && apt-get $o download mesa-vulkan-drivers libdrm2 libdrm-amdgpu1 >&2)
  for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$dir/root"; done
  dpkg -s libllvm15 >/dev/null 2>&1 || apt-get install -y -qq libllvm15 >&2
  lib="$dir/root/usr/lib/x86_64-linux-gnu"
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/libvulkan_lvp.so","api_version":"1.3.0"}}\n' "$lib" > "$dir/lvp.json"
fi
echo "export VK_ICD_FILENAMES=$dir/lvp.json LD_LIBRARY_PATH=$dir/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"

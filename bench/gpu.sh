#!/usr/bin/env bash
# Every Node benchmark suite in full mode on a machine's GPU, through Dawn (the `webgpu` package)
# on the GPU's own Vulkan driver, for a machine that has Node but no package registry: it finds
# the Vulkan loader (or unpacks a carried Debian libvulkan1 .deb into a temporary folder and puts
# it on LD_LIBRARY_PATH) and the GPU's driver (VK_ICD_FILENAMES, else NVIDIA's or any hardware
# driver's ICD file), runs bench/node.ts with --require-gpu, so that a software adapter
# (SwiftShader, llvmpipe) is refused with its name rather than measured as if it were the GPU,
# and prints a summary: the adapter, the peaks, and each suite's best GFLOP/s and GB/s against
# them (a kernel past the peak means the peak is no ceiling).
# Where the JSON goes: --out=DIR, else $OUT when set (packed with the log into one .tar.gz, as a
# folder that brings back few files wants), else bench/results/; one file per suite,
# gpu-<time>-<suite>.json (gpu-<time>.json when --suite= names one).
# How it runs the TypeScript: through node_modules/tsx when that is there, else through the
# bundle `bench/gpu.sh --prepare` builds here (dist/gpu-bench/: the runner and the suites in one
# ES module with its chunks, Dawn's linux-x64 binding, and a libvulkan1 .deb), so that a machine
# needs only the checkout and that one folder; with --with-node, also this machine's node,
# xz-compressed, for a machine that has none (it needs only glibc and libstdc++).
# Usage: bench/gpu.sh [--prepare [--with-node]] [--allow-software] [--quick] [--suite=all|peak,matmul,...]
#                     [--out=DIR] [--time-limit=SECONDS] [--bundle]
#   --prepare         here, with node_modules: build dist/gpu-bench/ and exit (--with-node: add node.xz)
#   --allow-software  measure a software adapter too (a dry run of this script without a GPU)
#   --quick           each suite's smallest sizes (a dry run; the figures mean nothing)
#   --suite=          what bench/node.ts runs (default all: every suite but soak)
#   --time-limit=     stop the suites after this many seconds; what finished is still written
#   --bundle          use dist/gpu-bench/ even where tsx is installed
# Not here: the suites (bench/registry.ts) or the runner's own options (bench/node.ts).

set -euo pipefail
cd "$(dirname "$0")/.."

PREP=dist/gpu-bench
prepare=0 with_node=0 allow_software=0 quick=0 bundle=0 suite=all out_dir='' limit=0
for a in "$@"; do
  case "$a" in
    --prepare) prepare=1 ;;
    --with-node) with_node=1 ;;
    --allow-software) allow_software=1 ;;
    --quick) quick=1 ;;
    --bundle) bundle=1 ;;
    --suite=*) suite=${a#--suite=} ;;
    --out=*) out_dir=${a#--out=} ;;
    --time-limit=*) limit=${a#--time-limit=} ;;
    -h|--help) sed -n '2,/^# Not here/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/gpu.sh: unknown option '$a' (see --help)." >&2; exit 64 ;;
  esac
done

die() { echo "bench/gpu.sh: $*" >&2; exit 1; }

if [[ $prepare == 1 ]]; then
  [[ -x node_modules/.bin/esbuild && -f node_modules/webgpu/dist/linux-x64/dawn.node ]] ||
    die "--prepare needs node_modules (esbuild and webgpu's linux-x64 binding): run npm install first."
  rm -rf "$PREP/bench" "$PREP/node_modules"
  # Splitting keeps the TensorFlow.js peers in chunks of their own, loaded only in a page.
  node_modules/.bin/esbuild bench/node.ts --bundle --splitting --format=esm --platform=node --target=node20 \
    --outdir="$PREP/bench" --external:webgpu --external:'@tensorflow/*' --log-level=warning
  mkdir -p "$PREP/node_modules/webgpu/dist"
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/LICENSE.md "$PREP/node_modules/webgpu/"
  cp -r node_modules/webgpu/dist/linux-x64 "$PREP/node_modules/webgpu/dist/"
  { git rev-parse --short HEAD 2>/dev/null || echo unknown; date -u +%FT%TZ; } >"$PREP/built-from"
  if ! ls "$PREP"/libvulkan1_*_amd64.deb >/dev/null 2>&1; then
    (cd "$PREP" && apt-get -q -oAPT::Architecture=amd64 download libvulkan1:amd64 >/dev/null 2>&1) ||
      echo "bench/gpu.sh: could not download libvulkan1 (amd64); a machine without libvulkan.so.1 then needs one in $PREP/." >&2
  fi
  if [[ $with_node == 1 ]]; then
    # A minute of compression, so only when the node here is not the one already packed.
    if [[ ! -f $PREP/node.xz || $(cat "$PREP/node.version" 2>/dev/null) != "$(node --version)" ]]; then
      xz -T1 -6 -c "$(command -v node)" >"$PREP/node.xz"
      node --version >"$PREP/node.version"
    fi
  else
    rm -f "$PREP/node.xz" "$PREP/node.version"
  fi
  echo "built $PREP ($(du -sh "$PREP" | cut -f1)): carry '$PREP' to the GPU machine and run bench/gpu.sh there."
  ls "$PREP" "$PREP/node_modules/webgpu/dist"
  exit 0
fi

# Node: the machine's, else the one --prepare --with-node carried.
if ! command -v node >/dev/null; then
  [[ -f $PREP/node.xz ]] || die "no node on PATH, and none carried (bench/gpu.sh --prepare --with-node puts one in $PREP/)."
  mkdir -p /tmp/gpu-bench-node
  if command -v xz >/dev/null; then xz -dc "$PREP/node.xz" >/tmp/gpu-bench-node/node
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$PREP/node.xz" /tmp/gpu-bench-node/node
  fi
  chmod +x /tmp/gpu-bench-node/node
  export PATH="/tmp/gpu-bench-node:$PATH"
  echo "node: the carried one, $(node --version)"
fi

# The Vulkan loader: the system's, else a carried libvulkan1 .deb unpacked beside /tmp.
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then
  deb=$(ls "$PREP"/libvulkan1_*.deb .gl/libvulkan1_*.deb 2>/dev/null | head -n 1 || true)
  [[ -n $deb ]] || die "this machine has no Vulkan loader (libvulkan.so.1) and no libvulkan1 .deb was carried (bench/gpu.sh --prepare puts one in $PREP/)."
  root=$(mktemp -d /tmp/gpu-bench-vulkan.XXXXXX)
  if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$deb" "$root"; else (cd "$root" && ar x "$OLDPWD/$deb" && tar -xf data.tar.*); fi
  lib=$(find "$root" -name 'libvulkan.so.1*' -print -quit)
  [[ -n $lib ]] || die "$deb holds no libvulkan.so.1."
  export LD_LIBRARY_PATH="$(dirname "$lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "Vulkan loader: $(basename "$lib") from $deb (LD_LIBRARY_PATH)"
else
  echo "Vulkan loader: $(ldconfig -p | grep -m1 'libvulkan\.so\.1 ' | sed 's/.*=> //')"
fi

# The driver: one already chosen, else NVIDIA's, else any hardware driver's ICD file.
software='swiftshader|lvp|lavapipe|mock'
if [[ -z ${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-} ]]; then
  icd=''
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
    [[ -f $f ]] && { icd=$f; break; }
  done
  if [[ -z $icd ]]; then
    icd=$(ls /etc/vulkan/icd.d/*.json /usr/share/vulkan/icd.d/*.json /usr/local/share/vulkan/icd.d/*.json 2>/dev/null | grep -Eiv "$software" | head -n 1 || true)
  fi
  if [[ -z $icd && $allow_software == 1 && -f /usr/lib/chromium/vk_swiftshader_icd.json ]]; then
    icd=/usr/lib/chromium/vk_swiftshader_icd.json
  fi
  [[ -n $icd ]] || die "no GPU Vulkan driver found (no nvidia_icd.json, no hardware ICD file under /etc/vulkan, /usr/share/vulkan, /usr/local/share/vulkan); set VK_ICD_FILENAMES to one, or pass --allow-software for a dry run on SwiftShader."
  export VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd
fi
driver=${VK_ICD_FILENAMES:-$VK_DRIVER_FILES}
echo "Vulkan driver: $driver"
# The library the driver's ICD file names must load too: NVIDIA's often sits in /usr/local/nvidia/lib64.
icd_lib=$(sed -n 's/.*"library_path"[^"]*"\([^"]*\)".*/\1/p' "${driver%%:*}" 2>/dev/null | head -n 1 || true)
if [[ -n $icd_lib && $icd_lib != /* ]] && ! ldconfig -p 2>/dev/null | grep -q " $icd_lib "; then
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu; do
    [[ -e $d/$icd_lib ]] && { export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; echo "driver library: $d/$icd_lib (LD_LIBRARY_PATH)"; break; }
  done
fi
if command -v nvidia-smi >/dev/null; then
  echo "nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 1)"
fi

# The runner: tsx on the sources, else the prepared bundle.
if [[ $bundle == 0 && -f node_modules/tsx/dist/cli.mjs && -d node_modules/webgpu ]]; then
  runner=(node node_modules/tsx/dist/cli.mjs bench/node.ts)
elif [[ -f $PREP/bench/node.js ]]; then
  runner=(node "$PREP/bench/node.js")
  echo "runner: the bundle in $PREP (built from $(paste -sd' ' "$PREP/built-from" 2>/dev/null || echo '?'))"
else
  die "neither node_modules/tsx nor the bundle $PREP/bench/node.js is here: carry node_modules, or run bench/gpu.sh --prepare where node_modules is and carry $PREP."
fi

stamp=$(date -u +%Y-%m-%dT%H-%M-%SZ)
pack=''
if [[ -z $out_dir && -n ${OUT:-} ]]; then
  pack=$OUT
  out_dir=$(mktemp -d "/tmp/gpu-bench-$stamp.XXXXXX")
fi
out_dir=${out_dir:-bench/results}
mkdir -p "$out_dir"
log="$out_dir/gpu-$stamp.log"

args=(--suite="$suite" --out="$out_dir/gpu-$stamp.json")
[[ $allow_software == 1 ]] || args+=(--require-gpu)
[[ $quick == 1 ]] && args+=(--quick)
[[ $limit != 0 ]] && runner=(timeout --signal=INT --kill-after=30 "$limit" "${runner[@]}")

set +e
"${runner[@]}" "${args[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
case $rc in
  0) failure='' ;;
  2) failure="the adapter is not a GPU (its name is above); nothing measured. Check the Vulkan loader and driver lines above, or pass --allow-software for a dry run." ;;
  124) failure="stopped after --time-limit=$limit s; the suites that finished are written." ;;
  *) failure="the runner failed (exit $rc); the suites that finished are written." ;;
esac
if [[ $rc != 0 ]] && grep -q 'no adapter was found' "$log"; then
  failure="no GPU adapter found: Dawn's Vulkan could load no driver (tried $driver; the loader's warnings are above). Nothing measured."
fi

# The summary: the adapter, the peaks, and each suite's best rates against them.
node --input-type=module - "$out_dir" "gpu-$stamp" <<'EOF' | tee -a "$log"
import { readdirSync, readFileSync } from 'node:fs';
const [dir, prefix] = process.argv.slice(2);
const files = readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort();
const results = files.map((f) => ({ file: `${dir}/${f}`, r: JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) }));
if (!results.length) { console.log('summary: no suite finished.'); process.exit(0); }
const a = results[0].r.adapter ?? {};
const name = [a.vendor, a.architecture, a.device, a.description].filter(Boolean).join(' / ');
console.log(`\nsummary: ${results.length} suites on ${name}${a.isSoftware ? ' (SOFTWARE: not a GPU figure)' : ''}`);
const peak = results.find((x) => x.r.suite === 'peak')?.r;
const anyPeak = peak ?? results.map((x) => x.r).find((r) => r.peakGflops || r.peak);
const peakGflops = peak?.gflops ?? anyPeak?.peakGflops ?? anyPeak?.peak?.gflops;
const peakGbs = peak?.gbPerSecond ?? anyPeak?.peakGbPerSecond ?? anyPeak?.peak?.gbPerSecond;
if (peak) {
  console.log(`peak: ${peak.gflops.toFixed(1)} GFLOP/s (${peak.arithmetic.name}), ${peak.gbPerSecond.toFixed(1)} GB/s (${peak.bandwidth.name}), timing: ${peak.timing}`);
}
// The largest rate a suite measured under `key` (its own peaks and peers left out), and where.
function best(v, key, path = '') {
  let top = null;
  const visit = (x, p) => {
    if (Array.isArray(x)) x.forEach((y, i) => visit(y, `${p}[${y?.name ?? y?.label ?? y?.size ?? i}]`));
    else if (x && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        if (/^peak|^peer$|^adapter$/.test(k)) continue;
        if (k === key && typeof y === 'number' && Number.isFinite(y)) { if (!top || y > top.value) top = { value: y, path: p }; }
        else visit(y, p ? `${p}.${k}` : k);
      }
    }
  };
  visit(v, path);
  return top;
}
const over = [];
for (const { file, r } of results) {
  if (r.suite === 'peak') { console.log(`${r.suite.padEnd(12)} ${file.slice(dir.length + 1)}`); continue; }
  const parts = [];
  for (const [key, unit, ceiling] of [['gflops', 'GFLOP/s', peakGflops], ['gbPerSecond', 'GB/s', peakGbs]]) {
    const b = best(r, key);
    if (!b) continue;
    const share = ceiling ? ` = ${((100 * b.value) / ceiling).toFixed(1)}% of peak` : '';
    parts.push(`best ${b.value.toFixed(1)} ${unit} (${b.path})${share}`);
    if (ceiling && b.value > ceiling) over.push(`${r.suite} ${b.path}: ${b.value.toFixed(1)} ${unit} > peak ${ceiling.toFixed(1)}`);
  }
  console.log(`${r.suite.padEnd(12)} ${file.slice(dir.length + 1)}${parts.length ? `: ${parts.join('; ')}` : ''}`);
}
console.log(over.length ? `NOT A CEILING: ${over.join('; ')}` : peakGflops ? 'ceiling holds: no kernel passed the peak.' : '');
EOF

if [[ -n $pack ]]; then
  tar -czf "$pack/bench-gpu-$stamp.tar.gz" -C "$out_dir" .
  cp "$log" "$pack/"
  echo "packed $(ls "$out_dir" | grep -c '\.json$' || true) results and the log into $pack/bench-gpu-$stamp.tar.gz, the log beside it too."
else
  echo "results in $out_dir/gpu-$stamp*.json, the log in $log"
fi
[[ -z $failure ]] || die "$failure"

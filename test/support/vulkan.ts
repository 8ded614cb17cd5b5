// Which WebGPU adapter a headless run can expect: is there a GPU, and if not, where is a
// software Vulkan driver for Dawn (Node) to use. Used by the test setup and the benchmarks.
// Not here: launching a browser (browser.ts); Chromium carries its own SwiftShader.

import { existsSync, readdirSync } from 'node:fs';

/** SwiftShader's Vulkan driver as shipped by Debian's chromium package. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const ICD_DIRS = [
  '/etc/vulkan/icd.d',
  '/usr/share/vulkan/icd.d',
  '/usr/local/share/vulkan/icd.d',
  '/usr/local/nvidia/share/vulkan/icd.d',
];
// Drivers that run on the CPU: their presence says nothing about a GPU.
const SOFTWARE_ICD = /swiftshader|lvp|lavapipe|mock/i;

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * True when this machine has a GPU that WebGPU can reach. macOS and Windows always do (Metal,
 * D3D12). On Linux a GPU needs both a device node and a hardware Vulkan driver: containers often
 * carry Mesa's driver files with no device behind them.
 */
export function hasGpu(): boolean {
  if (process.platform !== 'linux') return true;
  const device =
    list('/dev/dri').some((f) => f.startsWith('renderD')) ||
    existsSync('/dev/nvidia0') ||
    existsSync('/dev/dxg');
  const driver = ICD_DIRS.some((dir) =>
    list(dir).some((f) => f.endsWith('.json') && !SOFTWARE_ICD.test(f)),
  );
  return device && driver;
}

/**
 * Points Dawn at SwiftShader when there is no GPU and nobody chose a driver. Must run before the
 * first adapter request in the process: the Vulkan loader reads VK_ICD_FILENAMES once.
 * Returns the driver file chosen, or null when the environment was left alone.
 */
export function useSwiftShaderWithoutGpu(): string | null {
  if (process.platform !== 'linux') return null;
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) return null;
  if (hasGpu() || !existsSync(SWIFTSHADER_ICD)) return null;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return SWIFTSHADER_ICD;
}

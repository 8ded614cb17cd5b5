// Acquiring a WebGPU adapter and device in a page, a Web Worker or Node, and describing it.
// The only difference between environments is where the `GPU` object comes from: the caller
// may pass one; otherwise `navigator.gpu`; otherwise, in Node, the `webgpu` package (Dawn).
// In Node on a software adapter, Dawn's wait loop is paced (dawn-pacing.ts); on one with
// subgroups, the layout of its quads is probed (quads.ts).
// Not here: buffers, pipelines or dispatch (see buffers.ts and kernels.ts).

import { DeviceLostError, WebGPUUnavailableError } from '../errors.js';
import { paceDawnTicks } from './dawn-pacing.js';
import { quadsInOrder } from './quads.js';

/** Features the engine knows how to use when the adapter has them. */
export const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;
export type OptionalFeature = (typeof OPTIONAL_FEATURES)[number];

export interface DeviceOptions {
  /** A `GPU` object to use instead of `navigator.gpu` or Node's `webgpu` package. */
  gpu?: GPU;
  /** Passed to requestAdapter. */
  powerPreference?: GPUPowerPreference;
  /** Features to leave off even when the adapter has them (to test fallbacks). */
  disable?: OptionalFeature[];
  /**
   * Node only (Dawn's own bindings; a browser keeps robustness on, whatever is asked): false
   * compiles shaders without Dawn's bounds check on every buffer access (its disable_robustness
   * toggle). On SwiftShader the mini GPT step took 354 ms instead of 463 (measured). The
   * engine's kernels keep their own accesses in bounds, and every kernel is tested on ragged
   * shapes, but an access past a binding then reads or writes whatever memory lies there, so it
   * is for code you trust. Default true.
   */
  robustness?: boolean;
}

/** The Dawn instance flags `opts` ask for. */
const dawnFlags = (opts: DeviceOptions): string[] => (opts.robustness === false ? ['enable-dawn-features=disable_robustness'] : []);

/**
 * Dawn's GPU objects in Node, one per set of flags and Vulkan driver, made once and kept for the
 * life of the process: a Dawn instance that the garbage collector finalises crashes the process
 * (a segfault, seen when a dropped engine's instance was collected), so none is ever let go.
 */
const dawnInstances = new Map<string, GPU>();

async function dawnGpu(opts: DeviceOptions): Promise<GPU> {
  const flags = dawnFlags(opts);
  const key = `${flags.join(' ')}|${process.env.VK_ICD_FILENAMES ?? ''}`;
  let gpu = dawnInstances.get(key);
  if (!gpu) {
    gpu = (await loadDawn()).create(flags);
    dawnInstances.set(key, gpu);
  }
  return gpu;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** True for CPU-emulated adapters such as SwiftShader, where barriers are very costly. */
  isSoftware: boolean;
}

/** A device with what the engine needs to know about it. */
export interface GpuContext {
  /** Held so the implementation's GPU object (Dawn's in Node) lives as long as the device. */
  gpu: GPU;
  device: GPUDevice;
  adapter: AdapterSummary;
  features: Set<OptionalFeature>;
  limits: GPUSupportedLimits;
  /**
   * Subgroup quads are four consecutive invocations in order (quads.ts). Probed only on software
   * adapters with subgroups, the only ones whose kernels rely on it; false elsewhere.
   */
  quadsInOrder: boolean;
  /** Resolves when the device is lost; `lost` is set synchronously before it resolves. */
  lost: Promise<DeviceLostError>;
  isLost(): boolean;
}

/** SwiftShader's Vulkan driver as Debian's chromium package installs it. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node;

/** Dawn's Node bindings; a variable specifier keeps bundlers from pulling them into pages. */
async function loadDawn(): Promise<{ create(flags: string[]): GPU; globals: Record<string, unknown> }> {
  const pkg = 'webgpu';
  return import(/* @vite-ignore */ pkg);
}

/**
 * In Node on a machine whose Vulkan loader finds no GPU driver, Dawn has no adapter. When no
 * driver was chosen (VK_ICD_FILENAMES unset) and SwiftShader is installed, use it.
 */
async function softwareFallback(opts: DeviceOptions): Promise<GPU | null> {
  if (!isNode() || process.env.VK_ICD_FILENAMES) return null;
  const fs = 'node:fs';
  const { existsSync } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs');
  if (!existsSync(SWIFTSHADER_ICD)) return null;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return dawnGpu(opts);
}

async function findGpu(opts: DeviceOptions): Promise<GPU> {
  if (opts.gpu) return opts.gpu;
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (isNode()) {
    try {
      Object.assign(globalThis, (await loadDawn()).globals);
      return await dawnGpu(opts);
    } catch (e) {
      throw new WebGPUUnavailableError(
        `WebGPU is not available in Node: could not load the 'webgpu' package (${(e as Error).message}). ` +
          `Install it with 'npm install webgpu'. Without a GPU, also install a Vulkan loader and ` +
          `software driver (Debian: 'apt-get install libvulkan1 chromium') and set ` +
          `VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json.`,
      );
    }
  }
  throw new WebGPUUnavailableError(
    'This browser has no WebGPU (navigator.gpu is missing). Use a recent Chrome, Edge or Safari, ' +
      'serve the page from https or localhost, and in Chromium on Linux start it with ' +
      '--enable-unsafe-webgpu (add --use-webgpu-adapter=swiftshader when there is no GPU).',
  );
}

function summarise(info: GPUAdapterInfo | undefined): AdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const device = info?.device ?? '';
  const description = info?.description ?? '';
  const all = `${vendor} ${architecture} ${device} ${description}`.toLowerCase();
  // Headless Chromium on SwiftShader reports an empty info object; so does a blocked adapter.
  const isSoftware = /swiftshader|llvmpipe|lavapipe|software|cpu/.test(all) || all.trim() === '';
  return { vendor, architecture, device, description, isSoftware };
}

/** Finds an adapter and requests a device with every optional feature it offers. */
export async function acquireDevice(opts: DeviceOptions = {}): Promise<GpuContext> {
  let gpu = await findGpu(opts);
  let adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  const fallback = !adapter && !opts.gpu ? await softwareFallback(opts) : null;
  if (fallback) {
    gpu = fallback;
    adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
  }
  if (!adapter) {
    throw new WebGPUUnavailableError(
      'WebGPU is present but no adapter was found. In Node without a GPU, install a Vulkan loader ' +
        `and SwiftShader (Debian: 'apt-get install libvulkan1 chromium'; it is then used by itself, ` +
        `or set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}); in Chromium without a GPU, add ` +
        '--use-webgpu-adapter=swiftshader.',
    );
  }
  const features = new Set<OptionalFeature>(
    OPTIONAL_FEATURES.filter((f) => adapter.features.has(f) && !opts.disable?.includes(f)),
  );
  // Ask for the adapter's own maxima: the defaults (128 MiB bindings) are far below most GPUs.
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: [...features] as GPUFeatureName[],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  let lost = false;
  const lostPromise = device.lost.then((info) => {
    lost = true;
    return new DeviceLostError(
      `The GPU device was lost (${info.reason}: ${info.message || 'no message'}). ` +
        'Create a new engine; parameters saved in a checkpoint can be loaded into it.',
    );
  });
  const summary = summarise(adapter.info);
  if (isNode() && summary.isSoftware) paceDawnTicks();
  return {
    gpu,
    device,
    adapter: summary,
    features,
    limits: device.limits,
    quadsInOrder: summary.isSoftware && features.has('subgroups') && (await quadsInOrder(device)),
    lost: lostPromise,
    isLost: () => lost,
  };
}

// The pipeline cache and the translation of a Dispatch (data) into GPU objects: a compute
// pipeline with an explicit bind group layout, a bind group over concrete buffers, and the
// uniform words packed for it. Shader modules are compiled once per device and feature set.
// Not here: ordering or buffer lifetimes (the executor), or what any kernel computes (ops/).

import { EngineError } from '../errors.js';
import type { Dispatch, ParamWord, ShaderModuleDef } from '../ops/types.js';
import type { OptionalFeature } from './device.js';

/** A buffer range bound to one binding. */
export interface BoundBuffer {
  buffer: GPUBuffer;
  offset?: number;
  size: number;
}

/** A dispatch ready to encode: everything created, nothing left to look up. */
export interface PreparedDispatch {
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  label: string;
}

/** Packs uniform words into a buffer padded to 16 bytes, as uniform bindings require. */
export function packParams(words: ParamWord[]): ArrayBuffer {
  const buf = new ArrayBuffer(Math.max(16, Math.ceil((words.length * 4) / 16) * 16));
  const u = new Uint32Array(buf);
  const f = new Float32Array(buf);
  const s = new Int32Array(buf);
  words.forEach((w, i) => {
    if (typeof w === 'number') u[i] = w;
    else if ('f32' in w) f[i] = w.f32;
    else s[i] = w.i32;
  });
  return buf;
}

export class KernelCache {
  private modules = new Map<ShaderModuleDef, GPUShaderModule>();
  private pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private layouts = new Map<string, GPUBindGroupLayout>();

  constructor(
    private device: GPUDevice,
    private features: ReadonlySet<OptionalFeature>,
  ) {}

  private module(def: ShaderModuleDef): GPUShaderModule {
    let m = this.modules.get(def);
    if (!m) {
      m = this.device.createShaderModule({ label: def.label, code: def.code(this.features) });
      this.modules.set(def, m);
    }
    return m;
  }

  private layout(reads: number, writes: number, params: boolean): GPUBindGroupLayout {
    const key = `${reads}/${writes}/${params}`;
    let l = this.layouts.get(key);
    if (!l) {
      const entries: GPUBindGroupLayoutEntry[] = [];
      const vis = GPUShaderStage.COMPUTE;
      for (let i = 0; i < reads; i++) entries.push({ binding: i, visibility: vis, buffer: { type: 'read-only-storage' } });
      for (let i = 0; i < writes; i++) entries.push({ binding: reads + i, visibility: vis, buffer: { type: 'storage' } });
      if (params) entries.push({ binding: reads + writes, visibility: vis, buffer: { type: 'uniform' } });
      l = this.device.createBindGroupLayout({ label: key, entries });
      this.layouts.set(key, l);
    }
    return l;
  }

  private layoutOf(d: Dispatch): GPUBindGroupLayout {
    return this.layout(d.reads.length, d.writes.length, !!d.params);
  }

  /** The pipeline for a dispatch, compiled once per (module, entry, constants, bindings). */
  pipeline(d: Dispatch): Promise<GPUComputePipeline> {
    const consts = d.constants ? JSON.stringify(Object.entries(d.constants).sort()) : '';
    const key = `${d.shader.label}|${d.entry}|${consts}|${d.reads.length}/${d.writes.length}/${!!d.params}`;
    let p = this.pipelines.get(key);
    if (!p) {
      const module = this.module(d.shader);
      const layout = this.device.createPipelineLayout({ bindGroupLayouts: [this.layoutOf(d)] });
      p = this.device
        .createComputePipelineAsync({
          label: `${d.shader.label}.${d.entry}`,
          layout,
          compute: { module, entryPoint: d.entry, constants: d.constants },
        })
        .catch(async (e: Error) => {
          const info = await module.getCompilationInfo();
          const msgs = info.messages.map((m) => `${m.type} at ${m.lineNum}:${m.linePos}: ${m.message}`);
          throw new EngineError(
            `Could not build the pipeline ${d.shader.label}.${d.entry}: ${e.message}\n${msgs.join('\n')}`,
          );
        });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** Builds the pipeline and bind group of a dispatch over concrete buffers. */
  async prepare(
    d: Dispatch,
    reads: BoundBuffer[],
    writes: BoundBuffer[],
    uniform?: BoundBuffer,
  ): Promise<PreparedDispatch> {
    const label = `${d.shader.label}.${d.entry}`;
    const [x, y = 1, z = 1] = d.workgroups;
    // Checked here, once: a bad dispatch size found only when a run encodes it would be an
    // uncaptured error far from its cause.
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (![x, y, z].every((n) => Number.isInteger(n) && n >= 0 && n <= max)) {
      throw new EngineError(
        `${label} asks for [${x}, ${y}, ${z}] workgroups; this device allows whole numbers up to ${max} ` +
          'per dimension (maxComputeWorkgroupsPerDimension). Use a smaller batch or sequence.',
      );
    }
    const pipeline = await this.pipeline(d);
    const all = [...reads, ...writes, ...(uniform ? [uniform] : [])];
    // Bind groups are made once per plan, so an error scope costs nothing when steps replay.
    this.device.pushErrorScope('validation');
    const bindGroup = this.device.createBindGroup({
      label,
      layout: this.layoutOf(d),
      entries: all.map((b, binding) => ({
        binding,
        resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
      })),
    });
    const error = await this.device.popErrorScope();
    if (error) {
      const sizes = all.map((b) => `${b.offset ?? 0}+${b.size}`).join(', ');
      throw new EngineError(`Could not bind the buffers of ${label} (offset+bytes: ${sizes}): ${error.message}`);
    }
    return { pipeline, bindGroup, workgroups: [x, y, z], label };
  }
}

/** Records prepared dispatches into one compute pass. */
export function encodeDispatches(pass: GPUComputePassEncoder, list: PreparedDispatch[]): void {
  for (const p of list) {
    pass.setPipeline(p.pipeline);
    pass.setBindGroup(0, p.bindGroup);
    pass.dispatchWorkgroups(...p.workgroups);
  }
}

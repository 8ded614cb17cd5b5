// The transformer page's attention panel: a prompt, a layer and a head to look at, the Show
// button and the heatmap of that head's weights. Once shown, the map follows training: it is
// computed again whenever a new sample arrives (the pace of the samples, not every step).
// Not here: drawing the map (heatmap.ts) or computing it (the worker's attentionMap).

import { gptPresets } from '../../src/models/gpt.js';
import type { AttentionMap, TrainerInfo } from '../../src/tasks/gpt/protocol.js';
import { $ } from '../shared/dom.js';
import { AttentionHeatmap } from './heatmap.js';

export class AttentionPanel {
  private readonly heatmap = new AttentionHeatmap($<HTMLCanvasElement>('attn'), $('attn-readout'));
  private readonly button = $<HTMLButtonElement>('attn-show');
  private readonly prompt = $<HTMLInputElement>('attn-prompt');
  private readonly layer = $<HTMLInputElement>('attn-layer');
  private readonly head = $<HTMLInputElement>('attn-head');
  /** Whether the user has asked for a map, so that it follows training. */
  private shown = false;

  /** `map`: the weights of one head for a prompt; undefined when the request failed (and said so). */
  constructor(private readonly map: (prompt: string, layer: number, head: number) => Promise<AttentionMap | undefined>) {
    this.button.addEventListener('click', () => {
      this.shown = true;
      void this.draw();
    });
  }

  /** Draws the map again, if one was asked for. */
  follow(): void {
    if (this.shown) void this.draw();
  }

  /** Show is usable with a model ready; the layer and head go as far as the model has them. */
  show(info: TrainerInfo, ready: boolean): void {
    this.button.disabled = !ready;
    if (!info.config) return;
    const shape = gptPresets[info.config.preset];
    this.layer.max = String(shape.nLayer - 1);
    this.head.max = String(shape.nHead - 1);
  }

  private async draw(): Promise<void> {
    const m = await this.map(this.prompt.value, this.layer.valueAsNumber, this.head.valueAsNumber);
    if (m) this.heatmap.draw(m.tokens, m.weights.flat());
  }
}

// The image side of the diffusion page's contract (re-exported by protocol.ts): the
// image datasets and what follows from a config for them (side, classes, the sample grid's
// shape), the scorer's status, the user's upload, and the events for images (sample grids, their
// scores, the scorer's progress). Plain data that survives structured cloning.
// Not here: the config itself and the API (protocol.ts), the work (images.ts).

import type { Sampler2DName } from '../../data/toy2d.js';
import type { SamplerKind } from '../../models/diffusion-sampler.js';
import type { DiffusionSessionConfig } from './protocol.js';

/** Image datasets: generated digits at 16 or 28 pixels (labelled), or the user's upload (not). */
export type ImageDatasetName = 'glyphs16' | 'glyphs28' | 'upload';
export type DiffusionDatasetName = Sampler2DName | ImageDatasetName;
export const imageDatasets: readonly { name: ImageDatasetName; description: string }[] = [
  { name: 'glyphs16', description: 'Digits 0-9 from a stroke font, 16 × 16 pixels, each with its own pose, warp and stroke width: labelled, so the model learns to draw the digit it is asked for.' },
  { name: 'glyphs28', description: 'The same digits at 28 × 28 pixels, as MNIST: about three times the work per step.' },
  { name: 'upload', description: 'Your own images, in grayscale, cropped to a square and shrunk: no labels, so the model learns them all together.' },
];

export function isImageDataset(d: string): d is ImageDatasetName {
  return imageDatasets.some((x) => x.name === d);
}

/** 'points' for the 2D datasets, 'images' for the others. */
export type DataKind = 'points' | 'images';

/** Side of the images of an image config. */
export function imageSizeOf(c: Pick<DiffusionSessionConfig, 'dataset' | 'uploadSize'>): number {
  return c.dataset === 'glyphs16' ? 16 : c.dataset === 'glyphs28' ? 28 : c.uploadSize;
}

/** Classes an image dataset is labelled with (0: unlabelled). */
export function classesOf(dataset: DiffusionDatasetName): number {
  return dataset === 'glyphs16' || dataset === 'glyphs28' ? 10 : 0;
}

/** Rows and columns of an image config's sample grid: a row per class, or 5 rows of the same count. */
export function gridShape(c: Pick<DiffusionSessionConfig, 'dataset' | 'gridColumns'>): { rows: number; cols: number } {
  return classesOf(c.dataset) > 0 ? { rows: classesOf(c.dataset), cols: c.gridColumns } : { rows: 5, cols: 2 * c.gridColumns };
}

/** The image scorer of one image size: a classifier trained in the worker on fresh glyphs. */
export interface ScorerStatus {
  size: number;
  state: 'training' | 'ready' | 'failed';
  /** Training steps done, of `steps`. */
  done: number;
  steps: number;
  /** Share of the held-out real glyphs it classifies right (once ready). */
  heldOutAccuracy: number | null;
  /** Held-out glyphs it was checked on. */
  heldOut: number;
  /** Why it failed. */
  message: string | null;
}

export type { UploadSource, UploadSummary } from '../../data/image-upload.js';

/** Images laid out as a grid, row by row: (rows × cols, 1, size, size) in [-1, 1]. */
export interface ImageGridData {
  images: Float32Array;
  /** The class of each image (a row per class), or null when unlabelled. */
  labels: Int32Array | null;
  size: number;
  rows: number;
  cols: number;
}

/** A grid of samples, drawn with the moving-average weights from the session's fixed noise seed. */
export interface ImagesEvent extends ImageGridData {
  type: 'images';
  step: number;
  sampler: SamplerKind;
  steps: number;
  /** Guidance scale used (null for an unlabelled model). */
  guidance: number | null;
}

/** How a grid of glyph samples scores (see eval/image-scores.ts). */
export interface ImageQualityEvent {
  type: 'imageQuality';
  step: number;
  /** Share of samples the scorer puts in the class they were asked for. */
  classAgreement: number | null;
  /** Fréchet distance of the scorer's features, samples against held-out real glyphs. */
  frechet: number;
  /** Samples per class the scorer predicts. */
  predicted: number[];
  /** Samples scored. */
  samples: number;
}

/** Progress of the scorer's training, and its accuracy once ready. */
export interface ScorerEvent {
  type: 'scorer';
  scorer: ScorerStatus;
}


// Turning the user's image files into training data, in the diffusion and GAN workers: the file
// list and each file's first bytes are checked first (src/data/user-images.ts: no files, not
// images, too many or too large), then each file is decoded with createImageBitmap, drawn onto an
// OffscreenCanvas and read back as RGBA, and shrunk at once to the model's side, so a folder of
// photographs never sits in memory at full size. Also takes pixels decoded elsewhere (Node has no createImageBitmap: tests pass
// RGBA arrays). Every failure is a DataError naming the file.
// The files are held as given, so the set can be shrunk again to another size when asked.
// Not here: the pixel arithmetic (data/user-images.ts), what a session does with the set.

import { HEAD_BYTES, checkDimensions, pickImageFiles, undecodable, userImages, type RgbaImage, type UserImageSet } from './user-images.js';
import { DataError } from '../errors.js';

/** Images the user gave, decoded and shrunk in the worker. */
export interface UploadSummary {
  /** Images kept. */
  count: number;
  /** Their side after shrinking. */
  size: number;
  /** Names of files passed over: hidden files and files that are not images. */
  skipped: string[];
  /**
   * True when the images went to the model in memory: one loaded from a checkpoint of an upload,
   * without its images, at the same size. It trains on them from where it was; otherwise the
   * page builds a new model on them.
   */
  attached: boolean;
}

/** What upload() takes: files (the page; decoded in the worker) or pixels decoded already (Node). */
export type UploadSource = { files: File[] } | { decoded: RgbaImage[] };

/**
 * The longest side an image is drawn at before area averaging. The browser's high-quality
 * downscale to this loses nothing at 16-64 pixels, and reading back 256² pixels instead of a
 * photograph's 12 million keeps the worker quick.
 */
const DRAW_MAX = 256;

/** The images of `source` at `size` × `size`, and the names of the files passed over. */
export async function uploadedImages(source: UploadSource, size: number): Promise<{ set: UserImageSet; skipped: string[] }> {
  if ('decoded' in source) return { set: userImages(source.decoded, { size }), skipped: [] };
  // The first bytes of each file, so one named .png that holds no image is skipped by name.
  const infos = await Promise.all(source.files.map(async (file) => ({
    file, name: file.name, size: file.size, type: file.type, head: new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer()),
  })));
  const picked = pickImageFiles(infos);
  const files = picked.images.map((i) => i.file);
  const { skipped } = picked;
  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
    throw new DataError('image upload: this environment cannot decode images (no createImageBitmap); pass decoded pixels instead.', 'format');
  }
  const px = size * size;
  const images = new Float32Array(files.length * px);
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    let bitmap: ImageBitmap;
    try {
      bitmap = await createImageBitmap(f);
    } catch (e) {
      throw undecodable(f.name, e);
    }
    try {
      checkDimensions(f.name, bitmap.width, bitmap.height);
      const k = Math.min(1, DRAW_MAX / Math.max(bitmap.width, bitmap.height));
      const w = Math.max(1, Math.round(bitmap.width * k)), h = Math.max(1, Math.round(bitmap.height * k));
      const g = new OffscreenCanvas(w, h).getContext('2d', { willReadFrequently: true });
      if (!g) throw undecodable(f.name, 'no 2D canvas to draw it on');
      g.imageSmoothingQuality = 'high';
      g.drawImage(bitmap, 0, 0, w, h);
      const one = userImages([{ name: f.name, width: w, height: h, data: g.getImageData(0, 0, w, h).data }], { size, limits: { minImages: 1 } });
      images.set(one.images, i * px);
    } finally {
      bitmap.close();
    }
  }
  return { set: { images, count: files.length, size, names: files.map((f) => f.name) }, skipped };
}

/** The user's images: the files as given, and the sets shrunk from them for each size asked. */
export class HeldUpload {
  private source: UploadSource | null = null;
  private sets = new Map<number, UserImageSet>();
  private skipped: string[] = [];

  get held(): boolean {
    return this.source !== null;
  }

  summary(): UploadSummary | null {
    const [first] = this.sets.values();
    return first ? { count: first.count, size: first.size, skipped: [...this.skipped], attached: false } : null;
  }

  /** Decodes and checks `source` at `size`; only one that passes replaces the images held. */
  async take(source: UploadSource, size: number): Promise<UploadSummary> {
    const { set, skipped } = await uploadedImages(source, size);
    this.source = source;
    this.sets = new Map([[size, set]]);
    this.skipped = skipped;
    return this.summary()!;
  }

  /** The held images at `size` (decoded again for a new size), or null when none are held. */
  async at(size: number): Promise<UserImageSet | null> {
    if (!this.source) return null;
    let set = this.sets.get(size);
    if (!set) {
      set = (await uploadedImages(this.source, size)).set;
      this.sets.set(size, set);
    }
    return set;
  }
}

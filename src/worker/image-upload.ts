// Turning the user's image files into training data, in the diffusion worker: the file list is
// checked first (src/data/user-images.ts: no files, not images, too many or too large), then
// each file is decoded with createImageBitmap, drawn onto an OffscreenCanvas and read back as
// RGBA, and shrunk at once to the model's side, so a folder of photographs never sits in memory
// at full size. Also takes pixels decoded elsewhere (Node has no createImageBitmap: tests pass
// RGBA arrays). Every failure is a DataError naming the file.
// Not here: the pixel arithmetic (data/user-images.ts), what the session does with the set.

import { checkDimensions, pickImageFiles, undecodable, userImages, type UserImageSet } from '../data/user-images.js';
import { DataError } from '../errors.js';
import type { UploadSource } from './diffusion-image-protocol.js';

/**
 * The longest side an image is drawn at before area averaging. The browser's high-quality
 * downscale to this loses nothing at 16-64 pixels, and reading back 256² pixels instead of a
 * photograph's 12 million keeps the worker quick.
 */
const DRAW_MAX = 256;

/** The images of `source` at `size` × `size`, and the names of the files passed over. */
export async function uploadedImages(source: UploadSource, size: number): Promise<{ set: UserImageSet; skipped: string[] }> {
  if ('decoded' in source) return { set: userImages(source.decoded, { size }), skipped: [] };
  const { images: files, skipped } = pickImageFiles(source.files);
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

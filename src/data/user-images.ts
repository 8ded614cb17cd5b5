// The user's own images as training data for the image models: decoded RGBA pixels (a page or
// worker decodes files with createImageBitmap and an OffscreenCanvas) become grayscale (Rec. 601
// luma, transparency over white), are cropped to their centre square (or stretched), shrunk or
// grown by area averaging to S × S and scaled to [-1, 1]: NCHW (n, 1, S, S) like the glyphs,
// black -1 and white +1. Before any decoding, the file list is checked (by type or extension,
// and by the first bytes where they were read, so a text file named .png is told apart); a
// DataError says what is wrong in words and, through its reason, to code: 'empty' (no files),
// 'format' (not an image, or not decodable), 'too-short' (fewer than minImages), 'too-large' (a
// file, the total or an image's pixels over the limits).
// Not here: decoding (browser only: image-upload.ts), batching, augmentation.

import { DataError } from '../errors.js';

/** One decoded image: width × height RGBA bytes, row-major, as ImageData holds them. */
export interface RgbaImage {
  name: string;
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** What the checks read of a file before decoding it (File has the first three). */
export interface ImageFileInfo {
  name: string;
  /** Bytes. */
  size: number;
  /** MIME type; often '' for files from a folder, then the extension decides. */
  type: string;
  /**
   * The file's first bytes (HEAD_BYTES of them), when read: a file whose name says image but
   * whose bytes start as no image format does is passed over by name, not counted as an image.
   */
  head?: Uint8Array;
}

export interface UserImageLimits {
  /** Fewer images than this cannot teach a model anything: 'too-short'. */
  minImages: number;
  /** More files than this: 'too-large'. */
  maxImages: number;
  /** Bytes of one file. */
  maxFileBytes: number;
  /** Bytes of all files together. */
  maxTotalBytes: number;
  /** Pixels of one decoded image (width × height). */
  maxPixels: number;
}

export const userImageLimits: UserImageLimits = {
  minImages: 16,
  maxImages: 20_000,
  maxFileBytes: 50 * 2 ** 20,
  maxTotalBytes: 1024 * 2 ** 20,
  maxPixels: 50_000_000,
};

/** Images (n, 1, size, size) in [-1, 1], in the order given. */
export interface UserImageSet {
  images: Float32Array;
  count: number;
  size: number;
  names: string[];
}

export interface UserImageOptions {
  /** Side of the square the images are shrunk to. */
  size: number;
  /** 'crop' keeps the centre square (no distortion); 'stretch' squeezes the whole image in. */
  fit?: 'crop' | 'stretch';
  /** Grey level (0-255) that transparent pixels are laid over; white by default. */
  background?: number;
  limits?: Partial<UserImageLimits>;
}

const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp', 'avif', 'ico', 'svg'];

/** True for a file that says it is an image: by its MIME type, or with none, by its extension. */
export function isImageFile(f: ImageFileInfo): boolean {
  if (f.type) return f.type.startsWith('image/');
  const ext = /\.([^./]+)$/.exec(f.name)?.[1]?.toLowerCase() ?? '';
  return IMAGE_EXTENSIONS.includes(ext);
}

/** Bytes of a file's start that looksLikeImage reads. */
export const HEAD_BYTES = 16;

/**
 * True when `head` starts as one of the formats a browser decodes: PNG, JPEG, GIF, WebP, BMP,
 * AVIF/HEIF (an ISO 'ftyp' box), ICO, or SVG (text whose first non-blank character is '<').
 * Only the signature: a file that passes can still fail to decode.
 */
export function looksLikeImage(head: Uint8Array): boolean {
  const at = (offset: number, text: string) => [...text].every((c, i) => head[offset + i] === c.charCodeAt(0));
  const bytes = (...b: number[]) => b.every((v, i) => head[i] === v);
  if (bytes(0x89, 0x50, 0x4e, 0x47) || bytes(0xff, 0xd8, 0xff) || at(0, 'GIF8') || at(0, 'BM') || bytes(0, 0, 1, 0)) return true;
  if (at(0, 'RIFF') && at(8, 'WEBP')) return true;
  if (at(4, 'ftyp')) return true;
  const text = new TextDecoder().decode(head).trimStart(); // the decoder drops a byte-order mark
  return text.startsWith('<');
}

/**
 * The image files of a selection (a folder brings hidden files and notes along: those are passed
 * over and named in `skipped`), checked against the limits before anything is decoded.
 */
export function pickImageFiles<F extends ImageFileInfo>(files: readonly F[], limits: Partial<UserImageLimits> = {}): { images: F[]; skipped: string[] } {
  const l = { ...userImageLimits, ...limits };
  if (files.length === 0) throw new DataError('image upload: no files were chosen; choose some image files or a folder of images.', 'empty');
  const hidden = (f: F) => baseName(f.name).startsWith('.');
  // Named as images, but their bytes are not: said by name, since the user thinks them images.
  const posing = files.filter((f) => !hidden(f) && isImageFile(f) && f.head !== undefined && !looksLikeImage(f.head));
  const images = files.filter((f) => !hidden(f) && isImageFile(f) && !posing.includes(f));
  const skipped = files.filter((f) => !images.includes(f)).map((f) => f.name);
  if (images.length === 0) {
    const first = files.find((f) => !hidden(f)) ?? files[0];
    const what = files.length === 1 ? `${first.name} is not an image` : `none of the ${files.length} files is an image (${first.name}, for one)`;
    const why = posing.includes(first) ? ': its name says image, but its bytes are not those of any image format'
      : first.type ? ` (its type is ${first.type})` : '';
    throw new DataError(`image upload: ${what}${why}; choose PNG, JPEG, GIF, WebP or BMP files.`, 'format', skipped);
  }
  if (images.length > l.maxImages) {
    throw new DataError(`image upload: ${images.length.toLocaleString('en-US')} images are more than the ${l.maxImages.toLocaleString('en-US')} this page takes; choose fewer.`, 'too-large');
  }
  const big = images.find((f) => f.size > l.maxFileBytes);
  if (big) throw new DataError(`image upload: ${big.name} is ${mb(big.size)}, over the ${mb(l.maxFileBytes)} a file may have; shrink it or leave it out.`, 'too-large');
  const total = images.reduce((a, f) => a + f.size, 0);
  if (total > l.maxTotalBytes) throw new DataError(`image upload: the images come to ${mb(total)}, over the ${mb(l.maxTotalBytes)} this page takes at once; choose fewer.`, 'too-large');
  if (images.length < l.minImages) throw tooFew(images.length, l.minImages, posing.map((f) => f.name));
  return { images, skipped };
}

/** The DataError for an image that could not be decoded (the decoder's message as the cause). */
export function undecodable(name: string, cause: unknown): DataError {
  const why = cause instanceof Error ? cause.message : String(cause ?? '');
  return new DataError(`image upload: ${name} could not be decoded as an image${why ? ` (${why})` : ''}; leave it out, or save it again as PNG or JPEG.`, 'format');
}

/** Checks a decoded image's size: DataError 'format' for an empty one, 'too-large' past maxPixels. */
export function checkDimensions(name: string, width: number, height: number, limits: Partial<UserImageLimits> = {}): void {
  const { maxPixels } = { ...userImageLimits, ...limits };
  if (!(width >= 1 && height >= 1)) throw new DataError(`image upload: ${name} has no pixels (${width} × ${height}).`, 'format');
  if (width * height > maxPixels) {
    throw new DataError(`image upload: ${name} is ${width} × ${height} pixels, over the ${(maxPixels / 1e6).toFixed(0)} megapixels an image may have; shrink it first.`, 'too-large');
  }
}

/** Decoded images to training data (n, 1, size, size) in [-1, 1]. */
export function userImages(decoded: readonly RgbaImage[], opts: UserImageOptions): UserImageSet {
  const { size, fit = 'crop', background = 255 } = opts;
  const l = { ...userImageLimits, ...opts.limits };
  if (!(Number.isInteger(size) && size >= 1 && size <= 1024)) throw new DataError(`image upload: the target size must be an integer in [1, 1024], got ${size}.`, 'format');
  if (decoded.length === 0) throw new DataError('image upload: no images were given.', 'empty');
  if (decoded.length > l.maxImages) throw new DataError(`image upload: ${decoded.length} images are more than the ${l.maxImages} this page takes.`, 'too-large');
  if (decoded.length < l.minImages) throw tooFew(decoded.length, l.minImages);
  const px = size * size;
  const images = new Float32Array(decoded.length * px);
  decoded.forEach((img, i) => {
    checkDimensions(img.name, img.width, img.height, l);
    if (img.data.length !== img.width * img.height * 4) {
      throw new DataError(`image upload: ${img.name} has ${img.data.length} bytes of pixels, not ${img.width} × ${img.height} × 4 (RGBA).`, 'format');
    }
    const gray = toGray(img, background);
    const side = Math.min(img.width, img.height);
    const box = fit === 'crop'
      ? { x: (img.width - side) / 2, y: (img.height - side) / 2, w: side, h: side }
      : { x: 0, y: 0, w: img.width, h: img.height };
    const out = resizeArea(gray, img.width, img.height, box, size);
    for (let k = 0; k < px; k++) images[i * px + k] = out[k] / 127.5 - 1;
  });
  return { images, count: decoded.length, size, names: decoded.map((d) => d.name) };
}

/** Luma Y' = 0.299 R + 0.587 G + 0.114 B (Rec. 601, as most tools' grayscale) over `background` by alpha; 0-255. */
export function toGray(img: RgbaImage, background = 255): Float32Array {
  const n = img.width * img.height;
  const out = new Float32Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const a = d[4 * i + 3] / 255;
    const y = 0.299 * d[4 * i] + 0.587 * d[4 * i + 1] + 0.114 * d[4 * i + 2];
    out[i] = a * y + (1 - a) * background;
  }
  return out;
}

/**
 * Resamples the region `box` (in pixels, fractional edges allowed) of a w × h single-channel
 * image to size × size by area averaging: each output pixel is the mean of the source area it
 * covers, source pixels weighted by their overlap. Shrinking averages (no aliasing); growing
 * repeats pixels. Separable: rows first, then columns.
 */
export function resizeArea(src: Float32Array, w: number, h: number, box: { x: number; y: number; w: number; h: number }, size: number): Float32Array {
  const wx = areaWeights(box.x, box.w, w, size);
  const wy = areaWeights(box.y, box.h, h, size);
  const rows = new Float32Array(h * size); // each source row resampled to `size` columns
  for (let r = 0; r < h; r++) {
    for (let o = 0; o < size; o++) {
      let v = 0;
      for (let k = wx.start[o]; k < wx.start[o + 1]; k++) v += wx.w[k] * src[r * w + wx.idx[k]];
      rows[r * size + o] = v;
    }
  }
  const out = new Float32Array(size * size);
  for (let o = 0; o < size; o++) {
    for (let k = wy.start[o]; k < wy.start[o + 1]; k++) {
      const wk = wy.w[k], base = wy.idx[k] * size;
      for (let c = 0; c < size; c++) out[o * size + c] += wk * rows[base + c];
    }
  }
  return out;
}

/** For each of `n` output cells over [start, start + len): the source pixels it overlaps, with weights summing to 1. */
function areaWeights(start: number, len: number, limit: number, n: number): { start: Int32Array; idx: Int32Array; w: Float32Array } {
  const idx: number[] = [], w: number[] = [];
  const first = new Int32Array(n + 1);
  const step = len / n;
  for (let o = 0; o < n; o++) {
    first[o] = idx.length;
    const a = start + o * step, b = a + step;
    for (let p = Math.max(0, Math.floor(a)); p < Math.min(limit, Math.ceil(b)); p++) {
      const overlap = Math.min(b, p + 1) - Math.max(a, p);
      if (overlap > 0) {
        idx.push(p);
        w.push(overlap / step);
      }
    }
  }
  first[n] = idx.length;
  return { start: first, idx: Int32Array.from(idx), w: Float32Array.from(w) };
}

/** The DataError for too few images; `posing` names files passed over that were named as images but are not. */
function tooFew(n: number, min: number, posing: string[] = []): DataError {
  const passed = posing.length === 0 ? ''
    : posing.length === 1 ? ` ${posing[0]} was skipped: its name says image, but its bytes are not those of any image format.`
    : ` ${posing.length} files were skipped, such as ${posing[0]}: their names say image, but their bytes are not those of any image format.`;
  return new DataError(
    `image upload: ${n} image${n === 1 ? ' is' : 's are'} too few to learn from; give at least ${min} (a few hundred is better).${passed}`,
    'too-short',
    posing,
  );
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function mb(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MB`;
}

// The user's images as training data, in Node on the CPU (no GPU, no decoding): grayscale by
// Rec. 601 luma with transparency over white, area-average resizing (exact means on whole-pixel
// blocks, overlap weights on fractional ones, growing by repetition), the centre crop, the range
// [-1, 1] and the NCHW layout; and every refusal as a DataError with its reason: no files, files
// that are not images (by type, name or first bytes), undecodable ones, too few, too many, too large.
// Not here: decoding with createImageBitmap (the browser test uploads files through the page).

import { describe, expect, it } from 'vitest';
import {
  checkDimensions, isImageFile, looksLikeImage, pickImageFiles, resizeArea, toGray, undecodable, userImages, type RgbaImage,
} from '../src/data/user-images.js';
import { DataError } from '../src/errors.js';

/** A w × h image with every pixel from `f(x, y)` as [r, g, b, a]. */
function image(name: string, w: number, h: number, f: (x: number, y: number) => number[]): RgbaImage {
  const data = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set(f(x, y), 4 * (y * w + x));
  return { name, width: w, height: h, data };
}

const grey = (v: number) => [v, v, v, 255];

/** The DataError `fn` throws, for checks on its reason and message. */
function dataError(fn: () => unknown): DataError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return e as DataError;
  }
  throw new Error('expected a DataError');
}

describe('user images: pixels', () => {
  it('takes Rec. 601 luma and lays transparency over white', () => {
    const img = image('px.png', 4, 1, (x) => [[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255], [0, 0, 0, 0]][x]);
    const g = toGray(img);
    expect(Array.from(g).map((v) => +v.toFixed(3))).toEqual([76.245, 149.685, 29.07, 255]);
    expect(toGray(image('half.png', 1, 1, () => [0, 0, 0, 128]), 0)[0]).toBe(0); // over black stays black
    expect(toGray(image('half.png', 1, 1, () => [0, 0, 0, 102]))[0]).toBeCloseTo(255 * (1 - 102 / 255), 4);
  });

  it('area-averages whole blocks exactly when shrinking by an integer factor', () => {
    // 4 × 4 with values 0..15: each 2 × 2 block's mean.
    const src = Float32Array.from({ length: 16 }, (_, i) => i);
    const out = resizeArea(src, 4, 4, { x: 0, y: 0, w: 4, h: 4 }, 2);
    expect(Array.from(out)).toEqual([2.5, 4.5, 10.5, 12.5]);
  });

  it('weights partly covered pixels by their overlap, and keeps the mean', () => {
    // 3 pixels to 2: [a, b, c] -> [(a + b/2) / 1.5, (b/2 + c) / 1.5] along each axis.
    const src = Float32Array.from([0, 3, 6, 3, 6, 9, 6, 9, 12]);
    const out = resizeArea(src, 3, 3, { x: 0, y: 0, w: 3, h: 3 }, 2);
    const row = (a: number, b: number, c: number) => [(a + b / 2) / 1.5, (b / 2 + c) / 1.5];
    const cols = [row(0, 3, 6), row(3, 6, 9), row(6, 9, 12)]; // each source row to 2 columns
    const want = [0, 1].flatMap((r) => [0, 1].map((c) => (r === 0 ? cols[0][c] + cols[1][c] / 2 : cols[1][c] / 2 + cols[2][c]) / 1.5));
    out.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));
    const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
    expect(mean(out)).toBeCloseTo(mean(src), 5);
  });

  it('grows a small image by repeating its pixels', () => {
    const out = resizeArea(Float32Array.from([10, 20, 30, 40]), 2, 2, { x: 0, y: 0, w: 2, h: 2 }, 4);
    expect(Array.from(out)).toEqual([10, 10, 20, 20, 10, 10, 20, 20, 30, 30, 40, 40, 30, 30, 40, 40]);
  });

  it('crops the centre square of a wide image (or stretches it), scales to [-1, 1], NCHW', () => {
    // 6 × 2: black, black, white, white, black, black columns. The centre 2 × 2 square is white.
    const wide = image('wide.png', 6, 2, (x) => grey(x === 2 || x === 3 ? 255 : 0));
    const many = Array.from({ length: 16 }, (_, i) => (i === 0 ? wide : image(`g${i}.png`, 2, 2, () => grey(0))));
    const cropped = userImages(many, { size: 1 });
    expect(cropped.images.length).toBe(16);
    expect(cropped.images[0]).toBeCloseTo(1, 6); // white: +1
    expect(cropped.images[1]).toBeCloseTo(-1, 6); // black: -1
    const stretched = userImages(many, { size: 1, fit: 'stretch' });
    expect(stretched.images[0]).toBeCloseTo(2 / 6 * 2 - 1, 5); // a third white
    const two = userImages(many, { size: 2 });
    expect(two.images.length).toBe(16 * 4);
    expect(Array.from(two.images.subarray(0, 4))).toEqual([1, 1, 1, 1]);
    expect(two.names[3]).toBe('g3.png');
    expect(two.count).toBe(16);
  });

  it('is exact on a real-sized case: a 37 × 23 gradient to 16 × 16 stays monotone and in range', () => {
    const img = image('grad.png', 37, 23, (x) => grey(Math.round((255 * x) / 36)));
    const set = userImages(Array(16).fill(img), { size: 16 });
    const row = Array.from(set.images.subarray(0, 16));
    for (let i = 1; i < 16; i++) expect(row[i]).toBeGreaterThan(row[i - 1]);
    expect(Math.min(...set.images)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...set.images)).toBeLessThanOrEqual(1);
  });
});

describe('user images: refusals', () => {
  const file = (name: string, size = 1000, type = '') => ({ name, size, type });
  const photos = (n: number) => Array.from({ length: n }, (_, i) => file(`p${i}.jpg`, 1000, 'image/jpeg'));

  it('tells images by type, or by extension when there is none', () => {
    expect(isImageFile(file('a.PNG'))).toBe(true);
    expect(isImageFile(file('a.webp'))).toBe(true);
    expect(isImageFile(file('notes.txt'))).toBe(false);
    expect(isImageFile(file('scan', 10, 'image/png'))).toBe(true);
    expect(isImageFile(file('a.png', 10, 'text/plain'))).toBe(false); // the type wins
  });

  it('no files: empty', () => {
    const e = dataError(() => pickImageFiles([]));
    expect(e.reason).toBe('empty');
    expect(e.message).toMatch(/no files were chosen/);
  });

  it('a file that is not an image: format, naming it', () => {
    const e = dataError(() => pickImageFiles([file('notes.txt', 10, 'text/plain')]));
    expect(e.reason).toBe('format');
    expect(e.message).toMatch(/notes\.txt is not an image \(its type is text\/plain\); choose PNG, JPEG/);
    const many = dataError(() => pickImageFiles([file('.DS_Store'), file('a.txt'), file('b.pdf', 5, 'application/pdf')]));
    expect(many.message).toMatch(/none of the 3 files is an image \(a\.txt, for one\)/);
  });

  it('tells a file named as an image by its first bytes: one that is not is named, skipped, and counted apart', () => {
    const head = (...b: number[]) => Uint8Array.from([...b, ...new Array(16).fill(0)].slice(0, 16));
    const ascii = (t: string) => head(...Array.from(t, (c) => c.charCodeAt(0)));
    const heads: [string, Uint8Array][] = [
      ['png', head(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)], ['jpeg', head(0xff, 0xd8, 0xff, 0xe0)], ['gif', ascii('GIF89a')],
      ['webp', ascii('RIFF\0\0\0\0WEBPVP8 ')], ['bmp', ascii('BM')], ['avif', ascii('\0\0\0\x1cftypavif')], ['ico', head(0, 0, 1, 0)],
      ['svg', new TextEncoder().encode('\uFEFF  <svg xmlns')],
    ];
    for (const [what, h] of heads) expect(looksLikeImage(h), what).toBe(true);
    expect(looksLikeImage(ascii('hello, world'))).toBe(false);
    expect(looksLikeImage(new Uint8Array(0))).toBe(false);

    // The case of one text file named .png: not "1 image is too few", but which file and why.
    const fake = { ...file('notes.png', 12, 'image/png'), head: ascii('hello, world') };
    const one = dataError(() => pickImageFiles([fake]));
    expect([one.reason, one.message]).toEqual(['format',
      'image upload: notes.png is not an image: its name says image, but its bytes are not those of any image format; choose PNG, JPEG, GIF, WebP or BMP files.']);
    const real = (n: number) => photos(n).map((f) => ({ ...f, head: heads[1][1] }));
    const few = dataError(() => pickImageFiles([...real(3), fake]));
    expect([few.reason, few.message]).toEqual(['too-short',
      'image upload: 3 images are too few to learn from; give at least 16 (a few hundred is better). ' +
        'notes.png was skipped: its name says image, but its bytes are not those of any image format.']);
    const fakes = ['a.png', 'b.jpg', 'c.webp'].map((name) => ({ ...file(name), head: ascii('not an image') }));
    const many = dataError(() => pickImageFiles([...real(2), ...fakes]));
    expect(many.message).toMatch(/ 3 files were skipped, such as a\.png: their names say image/);
    expect(many.details).toEqual(['a.png', 'b.jpg', 'c.webp']);
    const { images, skipped } = pickImageFiles([...real(16), fake]);
    expect([images.length, skipped]).toEqual([16, ['notes.png']]);
  });

  it('passes over hidden files and other files in a folder of images, and names them', () => {
    const { images, skipped } = pickImageFiles([...photos(16), file('.DS_Store'), file('folder/readme.md')]);
    expect(images.length).toBe(16);
    expect(skipped).toEqual(['.DS_Store', 'folder/readme.md']);
  });

  it('too few images: too-short', () => {
    const e = dataError(() => pickImageFiles(photos(15)));
    expect(e.reason).toBe('too-short');
    expect(e.message).toMatch(/15 images are too few to learn from; give at least 16/);
    expect(dataError(() => userImages([image('one.png', 2, 2, () => grey(0))], { size: 4 })).message).toMatch(/1 image is too few/);
  });

  it('too many, too big a file, too many bytes, too many pixels: too-large', () => {
    expect(dataError(() => pickImageFiles(photos(30), { maxImages: 20 })).reason).toBe('too-large');
    const big = dataError(() => pickImageFiles([...photos(15), file('huge.png', 80 * 2 ** 20, 'image/png')]));
    expect(big.reason).toBe('too-large');
    expect(big.message).toMatch(/huge\.png is 80\.0 MB, over the 50\.0 MB/);
    expect(dataError(() => pickImageFiles(photos(16), { maxTotalBytes: 10_000 })).message).toMatch(/come to 0\.0 MB, over the 0\.0 MB/);
    const px = dataError(() => checkDimensions('pano.jpg', 20_000, 5_000));
    expect(px.reason).toBe('too-large');
    expect(px.message).toMatch(/pano\.jpg is 20000 × 5000 pixels, over the 50 megapixels/);
    expect(dataError(() => checkDimensions('empty.png', 0, 10)).reason).toBe('format');
  });

  it('an undecodable file or malformed pixels: format, naming the file', () => {
    const e = undecodable('broken.png', new Error('The source image could not be decoded.'));
    expect(e).toBeInstanceOf(DataError);
    expect(e.reason).toBe('format');
    expect(e.message).toMatch(/broken\.png could not be decoded as an image \(The source image could not be decoded\.\)/);
    const bad = { name: 'short.raw', width: 4, height: 4, data: new Uint8Array(10) };
    const many = Array.from({ length: 16 }, () => bad);
    expect(dataError(() => userImages(many, { size: 4 })).message).toMatch(/short\.raw has 10 bytes of pixels, not 4 × 4 × 4/);
  });
});

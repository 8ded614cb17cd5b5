// Taking the user's image files on a page: two buttons (files, a folder), their hidden file
// inputs and a drop zone, wired to one callback with the files chosen. The page's markup has
// the elements (ids upload-zone, upload-input, upload-dir, upload-files, upload-folder); the
// files go to the worker as they are, to be checked and decoded there.
// Not here: what the worker does with them (src/worker/image-upload.ts).

import type { UploadSummary } from '../../src/data/image-upload.js';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

/** Wires the upload buttons, their file inputs and the drop zone to one callback with the files chosen. */
export function acceptImages(onFiles: (files: File[]) => void): { lock(locked: boolean): void } {
  const zone = $('upload-zone');
  const input = $<HTMLInputElement>('upload-input');
  const dir = $<HTMLInputElement>('upload-dir');
  const buttons = [$<HTMLButtonElement>('upload-files'), $<HTMLButtonElement>('upload-folder')];
  let locked = true;
  buttons[0].addEventListener('click', () => input.click());
  buttons[1].addEventListener('click', () => dir.click());
  for (const el of [input, dir]) {
    el.addEventListener('change', () => {
      const files = Array.from(el.files ?? []);
      el.value = ''; // choosing the same files again still fires change
      if (files.length) onFiles(files);
    });
  }
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    if (!locked) zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (!locked && files.length) onFiles(files);
  });
  return {
    lock: (l: boolean) => {
      locked = l;
      for (const b of buttons) b.disabled = l;
    },
  };
}

/** What a page says once the worker took the user's images: how many, at what size, what it passed over. */
export function tookImagesNote(took: UploadSummary): string {
  const n = took.skipped.length;
  const skipped = n ? ` Passed over ${n} file${n === 1 ? '' : 's'} that ${n === 1 ? 'is not an image' : 'are not images'}: ${took.skipped.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''}.` : '';
  return `Took ${took.count.toLocaleString('en-US')} images at ${took.size} × ${took.size}.${skipped} Start to train on them.`;
}

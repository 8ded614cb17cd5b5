// The box that takes the user's image files on a generative page: two buttons (files, a folder),
// their hidden file inputs, a drop zone, the side the images are shrunk to and a line on what
// happens to them. The page's markup has only the box (`<div id="upload-zone" class="upload">`);
// this module makes what goes in it (ids upload-files, upload-folder, upload-input, upload-dir,
// upload-size), shows it only while the form's dataset is the user's images, and runs an upload:
// the files go to the worker as they are, to be checked and decoded there, while the page is
// busy; once taken, the page builds on them.
// Not here: what the worker does with them (src/data/image-upload.ts), or what a page builds.

import type { UploadSummary } from '../../src/data/image-upload.js';
import { make } from './dom.js';
import { showMessage } from './ui.js';

/** The sides images may be shrunk to. */
const SIDES = [16, 28, 32];

/** What an upload needs of the page: its worker's upload call, its session and its banner. */
export interface UploadPage {
  api: { upload(source: { files: File[] }, size: number): Promise<UploadSummary> };
  session: {
    /** Runs a request while the page is busy (SessionPage.attemptWhileBusy). */
    attemptWhileBusy<T>(label: string, fn: () => Promise<T>, context: string): Promise<T | undefined>;
    /** The model in force, once the page has built on the images. */
    readonly info: { config: { dataset: string } | null } | null;
  };
  banner: HTMLElement;
}

export class ImageUpload {
  /** The side the images are shrunk to, as the form's field (a page's controls read, show and lock it). */
  readonly size = make('select', { id: 'upload-size' }, ...SIDES.map((s) => make('option', { value: String(s) }, `${s} × ${s}`)));
  private readonly buttons = [
    make('button', { id: 'upload-files', type: 'button', disabled: true }, 'Your images…'),
    make('button', { id: 'upload-folder', type: 'button', disabled: true }, 'A folder…'),
  ];
  private readonly inputs = [
    make('input', { id: 'upload-input', type: 'file', accept: 'image/*', multiple: true, hidden: true }),
    make('input', { id: 'upload-dir', type: 'file', webkitdirectory: true, multiple: true, hidden: true }),
  ];
  private locked = true;

  /** Fills the box `zone` (its buttons disabled until unlocked). */
  constructor(private readonly zone: HTMLElement) {
    zone.replaceChildren(
      make('div', { className: 'buttons' }, ...this.buttons),
      ...this.inputs,
      make('label', { className: 'row' }, 'Shrink to ', this.size),
      make('p', { className: 'hint' },
        'Train on your own pictures: choose at least 16 (a few hundred is better), a folder, or drop them here. ' +
        'They are made grayscale, cropped to a square and shrunk; they never leave this tab.'),
    );
  }

  /** The side chosen, in pixels. */
  get side(): number {
    return Number(this.size.value);
  }

  /**
   * Takes files from the buttons and the drop zone (not while locked) to the worker while the page
   * is busy; once it took them, `use` builds on them (a new model on the images, or the loaded
   * model given its images back), and the banner says what was taken.
   */
  accept(page: UploadPage, use: (took: UploadSummary) => Promise<void>): void {
    const take = async (files: File[]): Promise<void> => {
      const label = `Reading ${files.length} file${files.length === 1 ? '' : 's'}…`;
      const took = await page.session.attemptWhileBusy(label, () => page.api.upload({ files }, this.side), 'Your images were not used');
      if (!took) return;
      await use(took);
      if (page.session.info?.config?.dataset === 'upload') showMessage(page.banner, 'info', tookImagesNote(took));
    };
    this.buttons.forEach((b, i) => b.addEventListener('click', () => this.inputs[i].click()));
    for (const el of this.inputs) {
      el.addEventListener('change', () => {
        const files = Array.from(el.files ?? []);
        el.value = ''; // choosing the same files again still fires change
        if (files.length) void take(files);
      });
    }
    const zone = this.zone;
    zone.addEventListener('dragover', (e) => {
      e.preventDefault();
      if (!this.locked) zone.classList.add('dragging');
    });
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    zone.addEventListener('drop', (e) => {
      e.preventDefault();
      zone.classList.remove('dragging');
      const files = Array.from(e.dataTransfer?.files ?? []);
      if (!this.locked && files.length) void take(files);
    });
  }

  /**
   * Shows the box only while `dataset` (the form's choice) is the user's images ('upload'): beside
   * any other dataset it offers files that dataset would not use.
   */
  showFor(dataset: string): void {
    this.show(dataset === 'upload');
  }

  /** Shows or hides the box (a page whose image datasets all take the user's images beside them shows it for each). */
  show(visible: boolean): void {
    this.zone.hidden = !visible;
  }

  /** Locks the buttons and the drop zone (while training, or while a request replaces the model). */
  lock(locked: boolean): void {
    this.locked = locked;
    for (const b of this.buttons) b.disabled = locked;
  }
}

/** What a page says once the worker took the user's images: how many, at what size, what it passed over. */
function tookImagesNote(took: UploadSummary): string {
  const n = took.skipped.length;
  const skipped = n ? ` Passed over ${n} file${n === 1 ? '' : 's'} that ${n === 1 ? 'is not an image' : 'are not images'}: ${took.skipped.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''}.` : '';
  return `Took ${took.count.toLocaleString('en-US')} images at ${took.size} × ${took.size}.${skipped} Start to train on them.`;
}

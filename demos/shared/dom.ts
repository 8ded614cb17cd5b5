// Finding and making elements on a demo page: `$` finds one by id, typed as the caller knows it
// to be; `make` builds one with its properties and children in one expression, so markup made in
// code reads as the tree it builds.
// Not here: what any page builds (each component makes its own), and no templating or framework.

/** The element with this id (the page's markup guarantees it; no null check at every use). */
export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** A new element with `props` set on it (id, className, textContent, type, ...) and `children` appended. */
export function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

// What the lost-device tests of every session check of its event stream, written once: whether
// training has gone on past the recovery, and that it resumed from the last autosave written
// before the loss. How far a loop runs past the moment a test destroys its device depends on the
// machine's load, so a recovery is checked against the saves that came, not against a fixed step.
// Not here: destroying a device, or comparing losses with an uninterrupted run (each test's own).

import { expect } from 'vitest';

/** The part of a session event these checks read. */
interface SessionEvent {
  type: string;
}

const stepsOf = (e: SessionEvent): readonly { step: number }[] => (e as { steps?: { step: number }[] }).steps ?? [];

/** Whether a record of step `n` or later came after the 'recovered' event. */
export function steppedPastRecovery(events: readonly SessionEvent[], n: number): boolean {
  const at = events.findIndex((e) => e.type === 'recovered');
  return at >= 0 && events.slice(at).some((e) => e.type === 'metrics' && stepsOf(e).some((r) => r.step >= n));
}

/**
 * Checks the recovery: it resumed from the autosave written last before it (a multiple of
 * `autosaveEvery`), and the loss came at step `lostFrom` or later, not before the resumed step.
 */
export function expectResumedFromLastAutosave(events: readonly SessionEvent[], autosaveEvery: number, lostFrom: number): void {
  const at = events.findIndex((e) => e.type === 'recovered');
  expect(at).toBeGreaterThanOrEqual(0);
  const recovered = events[at] as unknown as { lostAt: number; resumedAt: number };
  const lastSave = events.slice(0, at).filter((e) => e.type === 'autosave').at(-1) as unknown as { step: number } | undefined;
  expect(lastSave).toBeDefined();
  expect(lastSave!.step % autosaveEvery).toBe(0);
  expect(recovered.resumedAt).toBe(lastSave!.step);
  expect(recovered.lostAt).toBeGreaterThanOrEqual(lostFrom);
  expect(recovered.lostAt).toBeGreaterThanOrEqual(recovered.resumedAt);
}

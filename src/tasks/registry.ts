// Every task a session can run, one line each: its name (the `task` field of its checkpoints and
// its autosave slot) and how a message names it and its page. The session core reads this table
// to say where a checkpoint of another task belongs; a task names no other task.
// To add a task: a folder beside this file (see README, "Adding a task") and one line here.
// Not here: what a task does (its folder), the session core (worker/session.ts).

export interface TaskEntry {
  /** How messages name it: 'a GAN checkpoint'. */
  title: string;
  /** Where its page is, in words: 'load it on the GAN page'. */
  page: string;
  /** What its page trains, in words: 'this page trains a GAN'. */
  model: string;
  /**
   * Checkpoints from before the `task` field kept their config under one key of 'config'; this
   * is that key, so such files are still recognised. New tasks have none.
   */
  legacyConfigKey?: string;
}

export const TASKS = {
  gpt: { title: 'transformer', page: 'the transformer page', model: 'a character-level GPT', legacyConfigKey: 'trainer' },
  diffusion: { title: 'diffusion', page: 'the diffusion page', model: 'a diffusion model', legacyConfigKey: 'diffusion' },
  gan: { title: 'GAN', page: 'the GAN page', model: 'a GAN', legacyConfigKey: 'gan' },
  vae: { title: 'VAE', page: 'the VAE page', model: 'a variational autoencoder' },
  rl: { title: 'reinforcement-learning', page: 'the reinforcement-learning page', model: 'a CartPole policy' },
  contrastive: { title: 'contrastive-learning', page: 'the contrastive-learning page', model: 'a contrastive encoder' },
  finetune: { title: 'fine-tuning', page: 'the fine-tuning page', model: 'a pretrained GPT-2 on your text' },
} as const satisfies Record<string, TaskEntry>;

export type TaskName = keyof typeof TASKS;

/**
 * The task a checkpoint's metadata says it belongs to: its `task` field, or for older files the
 * task whose config key it holds; null when it says nothing (a file written elsewhere).
 */
export function taskOfCheckpoint(metadata: Record<string, string>): string | null {
  if (metadata.task) return metadata.task;
  let config: Record<string, unknown> | null = null;
  try {
    config = metadata.config === undefined ? null : JSON.parse(metadata.config);
  } catch {
    return null; // the task reports bad JSON in its own words
  }
  if (typeof config !== 'object' || config === null) return null;
  const entries = Object.entries(TASKS) as [TaskName, TaskEntry][];
  return entries.find(([, t]) => t.legacyConfigKey !== undefined && Object.hasOwn(config, t.legacyConfigKey))?.[0] ?? null;
}

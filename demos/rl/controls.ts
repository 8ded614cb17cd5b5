// The RL page's form: reads the algorithm and the seed (which need a new policy) and the
// hyperparameters setHyper takes between updates (learning rate, discount, GAE's lambda, the clip
// range, epochs, the value and entropy weights) into the worker's session config. Choosing an
// algorithm puts its default learning rate in the form (REINFORCE's one step per batch wants a
// larger one) and shows only the settings it reads: lambda, clip and epochs are PPO's. The query
// string may preset any field of the config (?envs=4&horizon=16&maxEpisodeSteps=100&hidden=16
// &episodeEvery=2...): sizes for a slow adapter or a quick test, too fine for the form. Fields in
// the form start at its value.
// Not here: talking to the worker or drawing (main.ts, stage.ts, charts.ts).

import { algorithmDefaults, rlSessionDefaults, type RlAlgorithm, type RlHyper, type RlSessionConfig } from '../../src/tasks/rl/protocol.js';
import { $ } from '../shared/dom.js';
import { fill, fromQuery, inputsOf, intOf, kindsOf, numOf, onValidChange, selectsOf, setDisabled, type Field } from '../shared/form.js';

export interface ControlEvents {
  /** A setting that needs a new policy changed. */
  onModelChange: () => void;
  /** A setting that applies from the next update changed. */
  onHyperChange: (h: Partial<RlHyper>) => void;
}

/** The hyperparameters the form shows, all of which setHyper takes. */
type FormHyper = Pick<RlHyper, 'lr' | 'gamma' | 'gaeLambda' | 'clip' | 'epochs' | 'valueCoef' | 'entropyCoef'>;

const ABOUT: Record<RlAlgorithm, string> = {
  ppo: 'Proximal Policy Optimization: a fixed horizon of every CartPole per update, GAE advantages, then a few epochs of minibatch steps on the clipped objective.',
  reinforce: 'REINFORCE with a learned baseline: one whole episode of every CartPole per update, discounted returns minus the value estimate, one gradient step.',
};

export class Controls {
  /** The config's fields the form shows, by their keys. */
  private readonly choice = selectsOf('algorithm');
  private readonly model = inputsOf('seed');
  private readonly num = inputsOf('lr', 'gamma', 'gaeLambda', 'clip', 'epochs', 'valueCoef', 'entropyCoef');
  /** Config fields from the query string that the form does not show. */
  private readonly extra: Partial<RlSessionConfig>;

  constructor(events: ControlEvents) {
    const query = fromQuery<RlSessionConfig>(kindsOf(rlSessionDefaults));
    const inForm = this.fields();
    fill(inForm, { ...algorithmDefaults(this.algorithmOf(query.algorithm ?? this.choice.algorithm.value)), ...query });
    for (const k of Object.keys(inForm)) delete query[k as keyof RlSessionConfig];
    this.extra = query;
    this.describe();

    // First, so that the algorithm's learning rate is in the form before the model change reads it.
    this.choice.algorithm.addEventListener('change', () => {
      fill({ lr: this.num.lr }, algorithmDefaults(this.algorithm()));
      this.describe();
    });
    onValidChange([this.choice.algorithm, this.model.seed], () => events.onModelChange());
    onValidChange(Object.values(this.num), () => events.onHyperChange(this.hyper()));
  }

  /** The whole config for create(), from the form and the query string. */
  config(): Partial<RlSessionConfig> {
    return { ...this.extra, algorithm: this.algorithm(), seed: Math.max(0, intOf(this.model.seed, 1)), ...this.hyper() };
  }

  /** The settings setHyper accepts from the form, each kept within what the config allows. */
  hyper(): FormHyper {
    const d = algorithmDefaults(this.algorithm());
    const within = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
    const n = this.num;
    return {
      lr: Math.max(0, numOf(n.lr, d.lr)),
      gamma: within(numOf(n.gamma, d.gamma), 0, 1),
      gaeLambda: within(numOf(n.gaeLambda, d.gaeLambda), 0, 1),
      clip: within(numOf(n.clip, d.clip), 0.01, 0.99),
      epochs: within(intOf(n.epochs, d.epochs), 1, 100),
      valueCoef: Math.max(0, numOf(n.valueCoef, d.valueCoef)),
      entropyCoef: Math.max(0, numOf(n.entropyCoef, d.entropyCoef)),
    };
  }

  algorithm(): RlAlgorithm {
    return this.algorithmOf(this.choice.algorithm.value);
  }

  /** Puts the form in line with a config the worker reports (after loading a checkpoint). */
  show(c: RlSessionConfig): void {
    fill(this.fields(), c);
    this.describe();
  }

  /** Enables or disables the settings that need a new policy (not while training). */
  lockModel(locked: boolean): void {
    setDisabled([this.choice.algorithm, this.model.seed], locked);
  }

  private algorithmOf(name: string): RlAlgorithm {
    return name === 'reinforce' ? 'reinforce' : 'ppo';
  }

  private fields(): Partial<Record<keyof RlSessionConfig, Field>> {
    return { ...this.choice, ...this.model, ...this.num };
  }

  /** Says what the algorithm does, and shows only the settings and charts it has. */
  private describe(): void {
    const a = this.algorithm();
    $('algorithm-about').textContent = ABOUT[a];
    document.body.classList.toggle('algo-reinforce', a === 'reinforce');
  }
}

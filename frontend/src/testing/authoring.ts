/** Test data for the authoring pages (models, configurations, deployments), shaped like the backend's answers. */
import type { Configuration, Datasource, Deployment, Model, Schemas } from '../api/client'

export const page = <T,>(results: T[], count = results.length) => ({ count, next: null, previous: null, results })

/** A ready model (the builder's outcome); `building` / `failed` ones override status, error, line. */
export function model(overrides: Partial<Model> = {}): Model {
  return {
    id: 7,
    name: 'toy',
    description: 'a small dense model',
    source: 'import keras\nmodel = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3)])\n',
    status: 'ready',
    error: '',
    line: null,
    parameters: 1234,
    input_shape: [null, 8],
    output_shape: [null, 3],
    layers: [
      { name: 'dense', class_name: 'Dense', parameters: 144, output_shape: [null, 16] },
      { name: 'dense_1', class_name: 'Dense', parameters: 51, output_shape: [null, 3] },
    ],
    owner: 'alice',
    created_at: '2025-01-01T12:00:00Z',
    updated_at: '2025-01-01T12:00:00Z',
    ...overrides,
  }
}

export function configuration(overrides: Partial<Configuration> = {}): Configuration {
  return { id: 4, name: 'toy-config', description: '', ml_models: [7], deployments: [], created_at: '2025-01-01T12:00:00Z', ...overrides }
}

export function datasource(overrides: Partial<Datasource> = {}): Datasource {
  return {
    id: 2,
    datasource_id: 'toy-validation',
    topic: 'toy-data',
    format: 'RAW',
    description: 'toy validation split',
    counts: { train: 0, validation: 200 },
    input_shape: [8],
    classes: 3,
    sha256: '0'.repeat(64),
    control_topic: 'kafkaml-data-control',
    control_partition: 0,
    control_offset: 0,
    message: {},
    created_at: '2025-01-01T12:00:00Z',
    ...overrides,
  }
}

export function deployment(overrides: Partial<Deployment> = {}): Deployment {
  return {
    id: 3,
    configuration: 4,
    kind: 'federated',
    validation_datasource: 2,
    coordination: 'blockchain',
    settings: {
      coordination: 'blockchain', rounds: 12, epochs: 2, batch: 16, fit_kwargs: {}, val_kwargs: {}, strategy: 'fedbuff',
      strategy_params: { updates: 2 }, min_data: 100, data_restriction: { region: 'eu' }, reward_policy: 'tiered',
      reward_base: '1', reward_budget: '50', reject_ratio: 1.5, sample_weighting: 'capped',
    },
    clients: { ['0x' + 'a'.repeat(40)]: 500, ['0x' + 'b'.repeat(40)]: 700 },
    results: [9],
    created_at: '2025-01-01T12:00:00Z',
    ...overrides,
  }
}

/** A catalogue like GET /api/strategies/ answers (two strategies suffice for the form). */
export const STRATEGIES: Schemas['StrategyListOutput'] = {
  strategies: [
    {
      name: 'fedavg',
      description: 'Buffered FedAvg: waits for K updates.',
      updates_per_round: 3,
      discounts_staleness: false,
      parameters: [
        { name: 'updates', value_type: 'integer', default: 3, description: 'K, an integer in [1, 10000].', choices: [], when: {} },
        { name: 'server_lr', value_type: 'number', default: 1, description: 'Server learning rate in (0, 1].', choices: [], when: {} },
      ],
    },
    {
      name: 'fedasync',
      description: 'Asynchronous FedAsync: every update makes a new version.',
      updates_per_round: 1,
      discounts_staleness: true,
      parameters: [
        { name: 'alpha', value_type: 'number', default: 0.9, description: 'Mixing weight α in (0, 1].', choices: [], when: {} },
        {
          name: 'staleness', value_type: 'choice', default: 'polynomial', description: 'How much a stale update counts.',
          choices: ['constant', 'polynomial', 'hinge'], when: {},
        },
        { name: 'a', value_type: 'number', default: 0.5, description: 'Decay.', choices: [], when: { staleness: ['polynomial', 'hinge'] } },
        { name: 'b', value_type: 'number', default: 4, description: 'Hinge only.', choices: [], when: { staleness: ['hinge'] } },
      ],
    },
    { name: 'mix', description: 'Half the old model, half the update.', updates_per_round: 1, discounts_staleness: true, parameters: [] },
  ],
  reward_policies: [
    { name: 'improvement', description: 'Pays for the relative loss reduction.' },
    { name: 'tiered', description: 'Pays a tier of the loss ratio.' },
  ],
}

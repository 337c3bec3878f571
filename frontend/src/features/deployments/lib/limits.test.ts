/**
 * The form's rules against backend/openapi.yaml itself (not the generated api/limits.ts): each
 * limit lets its bound through and stops the value beyond it, and the defaults are the API's.
 */
import { describe, expect, it } from 'vitest'
import { field } from '../../../testing/openapi'
import { DEFAULTS, RANGES, validate, type Values } from './rules'

const valid: Values = { ...DEFAULTS, configuration: '4', validation_datasource: '2' }
const problems = (change: Partial<Values>) => validate({ ...valid, ...change }, undefined)

describe('the deployment form checks what the API checks', () => {
  it('starts valid', () => expect(problems({})).toEqual({}))

  it.each(['rounds', 'epochs', 'batch', 'min_data'] as const)('%s: its minimum and maximum', (key) => {
    const { minimum, maximum } = field('DeploymentInputRequest', key)
    expect(RANGES[key]).toEqual([minimum, maximum])
    expect(problems({ [key]: String(maximum) })[key]).toBeUndefined()
    expect(problems({ [key]: String(BigInt(maximum!) + 1n) })[key]).toHaveLength(1)
    expect(problems({ [key]: String(minimum) })[key]).toBeUndefined()
    if (BigInt(minimum!) > 0n) expect(problems({ [key]: String(BigInt(minimum!) - 1n) })[key]).toHaveLength(1)
  })

  it('a client: its sample ceiling and the length of its id', () => {
    const { minimum, maximum } = field('ClientInputRequest', 'sample_ceiling')
    const maxLength = Number(field('ClientInputRequest', 'identity').maxLength)
    const client = (identity: string, ceiling: bigint) => ({
      ...valid, coordination: 'classic' as const, clients: [{ key: 1, identity, ceiling: String(ceiling) }],
    })
    expect(validate(client('c'.repeat(maxLength), BigInt(maximum!)), undefined)).toEqual({})
    expect(validate(client('c', BigInt(minimum!)), undefined)).toEqual({})
    expect(Object.keys(validate(client('c'.repeat(maxLength + 1), BigInt(maximum!) + 1n), undefined)).sort()).toEqual([
      'clients.0.identity',
      'clients.0.sample_ceiling',
    ])
  })

  it('the reward amounts and the reject ratio', () => {
    for (const key of ['reward_base', 'reward_budget'] as const) {
      const maxLength = Number(field('DeploymentInputRequest', key).maxLength)
      expect(problems({ [key]: '1'.repeat(maxLength) })[key]).toBeUndefined()
      expect(problems({ [key]: '1'.repeat(maxLength + 1) })[key]).toEqual([`At most ${maxLength} characters.`])
    }
    const { minimum, maximum } = field('DeploymentInputRequest', 'reject_ratio')
    expect(problems({ reject_ratio: String(maximum) }).reject_ratio).toBeUndefined()
    expect(problems({ reject_ratio: String(Number(maximum) * 1.01) }).reject_ratio).toHaveLength(1)
    expect(problems({ reject_ratio: String(minimum) }).reject_ratio).toBeUndefined()
    expect(problems({ reject_ratio: String(Number(minimum) * 0.99) }).reject_ratio).toHaveLength(1)
  })

  it('the incremental settings', () => {
    const incremental = (change: Partial<Values>) => validate({ ...valid, kind: 'incremental', ...change }, undefined)
    for (const key of ['window', 'stream_timeout_s', 'improvement'] as const) {
      const { minimum, maximum } = field('DeploymentInputRequest', key)
      expect(incremental({ [key]: String(maximum) })[key]).toBeUndefined()
      expect(incremental({ [key]: String(Number(maximum) + 1) })[key]).toHaveLength(1)
      expect(incremental({ [key]: String(minimum) })[key]).toBeUndefined()
      expect(incremental({ [key]: String(Number(minimum) - 1) })[key]).toHaveLength(1)
    }
    expect(incremental({ monitor_metric: 'val_' + 'a'.repeat(36) }).monitor_metric).toBeUndefined()
    expect(incremental({ monitor_metric: 'val_' + 'a'.repeat(37) }).monitor_metric).toHaveLength(1)
  })

  it('the defaults', () => {
    for (const key of ['kind', 'stream_timeout_s', 'window', 'monitor_metric', 'monitor_mode', 'improvement', 'coordination', 'rounds', 'epochs', 'batch', 'min_data', 'strategy', 'reward_policy', 'reward_base',
      'reward_budget', 'reject_ratio', 'sample_weighting'] as const) {
      expect([key, DEFAULTS[key]]).toEqual([key, String(field('DeploymentInputRequest', key).default)])
    }
  })
})

/**
 * The deployment form's values, its client-side rules (the limits and defaults of the API's
 * `DeploymentInputRequest`, read from the schema through api/limits.ts, so mistakes show while
 * typing), the request built from it, and the backend's 400 answer mapped back onto the form's fields.
 * A single or incremental training has no clients, coordination, strategy, rewards or data
 * matching: those fields are neither checked nor sent for it (the API's defaults stand).
 */
import type { ApiError, DeploymentInput, Schemas } from '../../../api/client'
import { messages } from '../../../api/client'
import { ClientInputRequest, DeploymentInputRequest as INPUT } from '../../../api/limits'
import type { Errors } from '../../../components/useSettingsForm'
import { grouped, wholeNumber } from '../../../lib/checks'

export type Strategy = Schemas['StrategyOutput']
export type StrategyParameter = Schemas['StrategyParameterOutput']
export type Coordination = DeploymentInput['coordination']
export type Kind = DeploymentInput['kind']
export type ClientRow = { key: number; identity: string; ceiling: string }

/** Every input as typed (strings), so an unfinished number is not lost or coerced. */
export type Values = {
  configuration: string
  kind: Kind
  validation_datasource: string
  coordination: Coordination
  rounds: string
  epochs: string
  batch: string
  min_data: string
  data_restriction: string
  fit_kwargs: string
  val_kwargs: string
  strategy: string
  strategy_params: Record<string, string>
  reward_policy: string
  reward_base: string
  reward_budget: string
  reject_ratio: string
  exclude_after: string
  sample_weighting: string
  clients: ClientRow[]
  stream_timeout_s: string
  window: string
  monitor_metric: string
  monitor_mode: DeploymentInput['monitor_mode']
  improvement: string
}

export type { Errors } from '../../../components/useSettingsForm'

/** The API's defaults (the JSON objects have none in the schema: empty). */
export const DEFAULTS: Values = {
  configuration: '',
  kind: INPUT.kind.default,
  validation_datasource: '',
  coordination: INPUT.coordination.default,
  rounds: String(INPUT.rounds.default),
  epochs: String(INPUT.epochs.default),
  batch: String(INPUT.batch.default),
  min_data: String(INPUT.min_data.default),
  data_restriction: '{}',
  fit_kwargs: '{}',
  val_kwargs: '{}',
  strategy: INPUT.strategy.default,
  strategy_params: {},
  reward_policy: INPUT.reward_policy.default,
  reward_base: INPUT.reward_base.default,
  reward_budget: INPUT.reward_budget.default,
  reject_ratio: String(INPUT.reject_ratio.default),
  exclude_after: String(INPUT.exclude_after.default),
  sample_weighting: INPUT.sample_weighting.default,
  clients: [],
  stream_timeout_s: String(INPUT.stream_timeout_s.default),
  window: String(INPUT.window.default),
  monitor_metric: INPUT.monitor_metric.default,
  monitor_mode: INPUT.monitor_mode.default,
  improvement: String(INPUT.improvement.default),
}

/** Integer fields: [min, max] as the API checks them. */
export const RANGES = {
  rounds: [INPUT.rounds.minimum, INPUT.rounds.maximum],
  epochs: [INPUT.epochs.minimum, INPUT.epochs.maximum],
  batch: [INPUT.batch.minimum, INPUT.batch.maximum],
  min_data: [INPUT.min_data.minimum, INPUT.min_data.maximum],
  exclude_after: [INPUT.exclude_after.minimum, INPUT.exclude_after.maximum],
  window: [INPUT.window.minimum, INPUT.window.maximum],
  sample_ceiling: [ClientInputRequest.sample_ceiling.minimum, ClientInputRequest.sample_ceiling.maximum],
} as const

/** Decimal fields: [min, max] as the API checks them. */
const DECIMALS = {
  reject_ratio: [INPUT.reject_ratio.minimum, INPUT.reject_ratio.maximum],
  stream_timeout_s: [INPUT.stream_timeout_s.minimum, INPUT.stream_timeout_s.maximum],
  improvement: [INPUT.improvement.minimum, INPUT.improvement.maximum],
} as const
/** The serializer's rule for the monitored metric: a validation metric's name. */
const METRIC = /^val_[a-z_]{1,36}$/
const IDENTITY_MAX = ClientInputRequest.identity.maxLength
/** The serializer caps the list at 10,000 clients; the schema does not carry a list's length. */
const MAX_CLIENTS = 10_000

const ADDRESS = /^0x[0-9a-fA-F]{40}$/
const CLIENT_ID = new RegExp(`^[A-Za-z0-9._-]{1,${IDENTITY_MAX}}$`)
const TOKENS = /^(\d+(\.\d*)?|\.\d+)$/
const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

/** A field's range as its help says it: "1 to 100,000". */
export function rangeText(key: keyof typeof RANGES | keyof typeof DECIMALS): string {
  const [low, high] = key in DECIMALS ? DECIMALS[key as keyof typeof DECIMALS] : RANGES[key as keyof typeof RANGES]
  return `${grouped(low)} to ${grouped(high)}`
}

function decimal(text: string, [low, high]: readonly [number, number]): string | null {
  if (!NUMBER.test(text.trim())) return 'Enter a number.'
  const value = Number(text)
  return value < low || value > high ? `Between ${grouped(low)} and ${grouped(high)}.` : null
}

function tokenAmount(text: string, maxLength: number): string | null {
  const trimmed = text.trim()
  if (trimmed.length > maxLength) return `At most ${maxLength} characters.`
  if (!TOKENS.test(trimmed)) return 'A non-negative amount of tokens, such as 1 or 0.25.'
  const decimals = trimmed.split('.')[1] ?? ''
  return decimals.length > 18 ? 'At most 18 decimals.' : null
}

function jsonObject(text: string): string | null {
  if (!text.trim()) return null
  try {
    const value: unknown = JSON.parse(text)
    if (value && typeof value === 'object' && !Array.isArray(value)) return null
  } catch {
    return 'Not valid JSON yet: a JSON object looks like {"key": "value"}.'
  }
  return 'Must be a JSON object ({…}), not a list or a single value.'
}

export function identityRule(coordination: Coordination): { test: (text: string) => boolean; problem: string } {
  return coordination === 'blockchain'
    ? { test: (text) => ADDRESS.test(text), problem: 'Must be a 0x address: 0x followed by 40 hexadecimal digits.' }
    : {
        test: (text) => CLIENT_ID.test(text),
        problem: `Must be a client id: 1 to ${IDENTITY_MAX} letters, digits, dots, dashes or underscores.`,
      }
}

/** The value another parameter has now (as typed, else its default): for `when` conditions. */
function current(strategy: Strategy, params: Record<string, string>, name: string): string {
  const typed = params[name]
  if (typed !== undefined && typed !== '') return typed
  const parameter = strategy.parameters.find((item) => item.name === name)
  return parameter ? String(parameter.default) : ''
}

/** The parameters that apply given the others' values (hinge's `b` only with staleness = hinge). */
export function visibleParameters(strategy: Strategy, params: Record<string, string>): StrategyParameter[] {
  return strategy.parameters.filter((parameter) =>
    Object.entries(parameter.when ?? {}).every(([other, allowed]) => allowed.includes(current(strategy, params, other))),
  )
}

function parameterProblem(parameter: StrategyParameter, text: string): string | null {
  const trimmed = text.trim()
  if (trimmed === '') return null
  if (parameter.value_type === 'choice') {
    return parameter.choices.includes(trimmed) ? null : `One of ${parameter.choices.join(', ')}.`
  }
  if (!NUMBER.test(trimmed) || !Number.isFinite(Number(trimmed))) return 'Enter a number, or leave empty for the default.'
  if (parameter.value_type === 'integer' && !Number.isInteger(Number(trimmed))) return 'Enter a whole number.'
  return null
}

export function validate(values: Values, strategy: Strategy | undefined): Errors {
  const errors: Errors = {}
  const add = (key: string, problem: string | null) => {
    if (problem) errors[key] = [...(errors[key] ?? []), problem]
  }
  const federated = values.kind === 'federated'
  add('configuration', values.configuration ? null : 'Choose the configuration to deploy.')
  add('validation_datasource', values.validation_datasource ? null
    : federated ? 'Choose the data the platform validates on.' : 'Choose the data to train on.')
  for (const key of ['epochs', 'batch'] as const) add(key, wholeNumber(values[key], RANGES[key]))
  for (const key of ['fit_kwargs', 'val_kwargs'] as const) add(key, jsonObject(values[key]))
  if (values.kind === 'incremental') {
    add('window', wholeNumber(values.window, RANGES.window))
    add('stream_timeout_s', decimal(values.stream_timeout_s, DECIMALS.stream_timeout_s))
    add('improvement', decimal(values.improvement, DECIMALS.improvement))
    add('monitor_metric', METRIC.test(values.monitor_metric.trim()) ? null
      : 'A validation metric of the model, such as val_loss or val_accuracy.')
  }
  if (!federated) return errors
  for (const key of ['rounds', 'min_data', 'exclude_after'] as const) add(key, wholeNumber(values[key], RANGES[key]))
  add('data_restriction', jsonObject(values.data_restriction))
  add('reward_base', tokenAmount(values.reward_base, INPUT.reward_base.maxLength))
  add('reward_budget', values.reward_budget.trim() ? tokenAmount(values.reward_budget, INPUT.reward_budget.maxLength) : null)
  add('reject_ratio', decimal(values.reject_ratio, DECIMALS.reject_ratio))
  if (strategy) {
    for (const parameter of visibleParameters(strategy, values.strategy_params)) {
      add(`strategy_params.${parameter.name}`, parameterProblem(parameter, values.strategy_params[parameter.name] ?? ''))
    }
  }
  const rule = identityRule(values.coordination)
  const seen = new Set<string>()
  values.clients.forEach((client, index) => {
    const identity = client.identity.trim()
    add(`clients.${index}.identity`, !identity ? 'Required.' : rule.test(identity) ? null : rule.problem)
    if (identity && seen.has(identity.toLowerCase())) add(`clients.${index}.identity`, 'This client is listed twice.')
    seen.add(identity.toLowerCase())
    add(`clients.${index}.sample_ceiling`, wholeNumber(client.ceiling, RANGES.sample_ceiling))
  })
  if (values.clients.length > MAX_CLIENTS) add('clients', `At most ${grouped(MAX_CLIENTS)} clients.`)
  return errors
}

function parsed(text: string): Record<string, unknown> {
  return text.trim() ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/** The request for valid values (call `validate` first). Empty strategy parameters are left to their defaults. */
export function request(values: Values, strategy: Strategy | undefined): DeploymentInput {
  const common = {
    configuration: Number(values.configuration),
    kind: values.kind,
    validation_datasource: Number(values.validation_datasource),
    epochs: Number(values.epochs),
    batch: Number(values.batch),
    fit_kwargs: parsed(values.fit_kwargs),
    val_kwargs: parsed(values.val_kwargs),
  }
  // The generated type marks fields with a default as required; the API itself fills them in.
  if (values.kind === 'single') return common as DeploymentInput
  if (values.kind === 'incremental') {
    return {
      ...common,
      stream_timeout_s: Number(values.stream_timeout_s),
      window: Number(values.window),
      monitor_metric: values.monitor_metric.trim(),
      monitor_mode: values.monitor_mode,
      improvement: Number(values.improvement),
    } as DeploymentInput
  }
  const strategy_params: Record<string, unknown> = {}
  for (const parameter of strategy ? visibleParameters(strategy, values.strategy_params) : []) {
    const text = (values.strategy_params[parameter.name] ?? '').trim()
    if (text === '' || (parameter.value_type === 'choice' && text === parameter.default)) continue
    strategy_params[parameter.name] = parameter.value_type === 'choice' ? text : Number(text)
  }
  return {
    ...common,
    coordination: values.coordination,
    rounds: Number(values.rounds),
    min_data: Number(values.min_data),
    data_restriction: parsed(values.data_restriction),
    strategy: values.strategy as DeploymentInput['strategy'],
    strategy_params,
    reward_policy: values.reward_policy as DeploymentInput['reward_policy'],
    reward_base: values.reward_base.trim(),
    reward_budget: values.reward_budget.trim(),
    reject_ratio: Number(values.reject_ratio),
    exclude_after: Number(values.exclude_after),
    sample_weighting: values.sample_weighting as DeploymentInput['sample_weighting'],
    clients: values.clients.map((client) => ({ identity: client.identity.trim(), sample_ceiling: Number(client.ceiling) })),
  } as DeploymentInput
}

export const FIELDS = [
  'configuration', 'kind', 'validation_datasource', 'coordination', 'rounds', 'epochs', 'batch', 'min_data',
  'data_restriction', 'fit_kwargs', 'val_kwargs', 'strategy', 'reward_policy', 'reward_base', 'reward_budget',
  'reject_ratio', 'exclude_after', 'sample_weighting', 'stream_timeout_s', 'window', 'monitor_metric', 'monitor_mode',
  'improvement',
] as const

/**
 * A 400's field errors placed where they belong: plain fields by name; `strategy_params` messages
 * on the parameter they name (`parameter 'alpha' …`, one of `parameters`); `clients` per row, either DRF's list of
 * per-row objects or the serializer's "'<identity>' is not a 0x address" matched to its row.
 */
export function serverErrors(error: ApiError, values: Values, parameters: string[] = []): Errors {
  const errors: Errors = {}
  const add = (key: string, list: string[]) => {
    if (list.length) errors[key] = [...(errors[key] ?? []), ...list]
  }
  for (const key of FIELDS) add(key, error.field(key))
  for (const message of error.field('strategy_params')) {
    const named = /parameter\(?s?\)? '([^']+)'/.exec(message)?.[1]
    add(named && parameters.includes(named) ? `strategy_params.${named}` : 'strategy_params', [message])
  }
  const clients = error.body.clients
  if (Array.isArray(clients)) {
    clients.forEach((item, index) => {
      if (typeof item === 'string') {
        const row = values.clients.findIndex((client) => item.startsWith(`'${client.identity.trim()}'`))
        add(row >= 0 ? `clients.${row}.identity` : 'clients', [item])
      } else if (item && typeof item === 'object') {
        const fields = item as Record<string, unknown>
        add(`clients.${index}.identity`, messages(fields.identity))
        add(`clients.${index}.sample_ceiling`, messages(fields.sample_ceiling))
        add('clients', messages(fields.non_field_errors))
      }
    })
  } else {
    add('clients', messages(clients))
  }
  return errors
}


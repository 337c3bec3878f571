/**
 * The inference form's values, its rules (the API's `InferenceInputRequest` limits and topic
 * pattern, read from the schema through api/limits.ts), the request built from them, and the
 * backend's 400 answer placed on the form's fields. The input configuration is the earlier
 * Kafka-ML's (docs/inference.md, "Input configuration"): its content is checked by the backend's
 * codec, the form only checks that it is a JSON object.
 */
import type { ApiError } from '../../../api/client'
import { InferenceInputRequest as INPUT } from '../../../api/limits'
import type { Errors } from '../../../components/useSettingsForm'
import { wholeNumber } from '../../../lib/checks'
import type { InferenceInput } from '../api/inferences'

export type Format = InferenceInput['input_format']

export type Values = {
  result: string
  input_format: Format
  input_config: string
  input_topic: string
  output_topic: string
  error_topic: string
  replicas: string
  batch: string
}

export type { Errors } from '../../../components/useSettingsForm'

/** What one sample is, for each format: a starting point the user edits. */
export const EXAMPLES: Record<Format, string> = {
  RAW: '{"data_type": "float32", "data_reshape": [8]}',
  AVRO: JSON.stringify({
    data_scheme: { type: 'record', name: 'Sample', fields: [{ name: 'x', type: { type: 'array', items: 'float' } }] },
    data_reshape: [8],
  }),
}

export const DEFAULTS: Values = {
  result: '',
  input_format: 'RAW',
  input_config: EXAMPLES.RAW,
  input_topic: '',
  output_topic: '',
  error_topic: '',
  replicas: String(INPUT.replicas.default),
  batch: '',
}

export const RANGES = {
  replicas: [INPUT.replicas.minimum, INPUT.replicas.maximum],
  batch: [INPUT.batch.minimum, INPUT.batch.maximum],
} as const

const TOPIC = new RegExp(INPUT.input_topic.pattern)
export const FIELDS = ['result', 'input_format', 'input_config', 'input_topic', 'output_topic', 'error_topic', 'replicas',
  'batch'] as const

function topic(text: string): string | null {
  if (!text.trim()) return 'Required.'
  return TOPIC.test(text.trim()) ? null : 'A Kafka topic name: up to 249 letters, digits, dots, dashes or underscores.'
}

export function validate(values: Values): Errors {
  const errors: Errors = {}
  const add = (key: string, problem: string | null) => {
    if (problem) errors[key] = [problem]
  }
  add('result', values.result ? null : 'Choose the finished training whose model answers.')
  let config: unknown = null
  try {
    config = JSON.parse(values.input_config)
  } catch {
    add('input_config', 'Not valid JSON yet: see the example for this format.')
  }
  if (!errors.input_config && (!config || typeof config !== 'object' || Array.isArray(config))) {
    add('input_config', 'Must be a JSON object ({…}).')
  }
  add('input_topic', topic(values.input_topic))
  add('output_topic', topic(values.output_topic))
  if (!errors.output_topic && values.output_topic.trim() === values.input_topic.trim()) {
    add('output_topic', 'Must differ from the input topic.')
  }
  if (values.error_topic.trim()) add('error_topic', topic(values.error_topic))
  add('replicas', wholeNumber(values.replicas, RANGES.replicas))
  if (values.batch.trim()) add('batch', wholeNumber(values.batch, RANGES.batch))
  return errors
}

/** The request for valid values (call `validate` first): empty optional fields are left to the API. */
export function request(values: Values): InferenceInput {
  return {
    result: Number(values.result),
    input_format: values.input_format,
    input_config: JSON.parse(values.input_config) as Record<string, unknown>,
    input_topic: values.input_topic.trim(),
    output_topic: values.output_topic.trim(),
    ...(values.error_topic.trim() ? { error_topic: values.error_topic.trim() } : {}),
    bootstrap_servers: '',
    replicas: Number(values.replicas),
    ...(values.batch.trim() ? { batch: Number(values.batch) } : {}),
  }
}

/** A 400's messages on the fields they name (what names none stays for the form's notice). */
export function serverErrors(error: ApiError): Errors {
  const errors: Errors = {}
  for (const key of FIELDS) {
    const messages = error.field(key)
    if (messages.length) errors[key] = messages
  }
  return errors
}

// Generated from backend/openapi.yaml by scripts/gen-limits.mjs (`npm run gen:api`); do not edit.
// Each request body's field limits and defaults, as the backend validates them.

export const AuditVerdictInputRequest = {
  strategy: { minLength: 1, maxLength: 10000 },
  error: { minLength: 1, maxLength: 10000 },
  checks: { maxItems: 100000 },
} as const

export const ClientInputRequest = {
  identity: { minLength: 1, maxLength: 100 },
  sample_ceiling: { minimum: 1n, maximum: 4294967295n },
} as const

export const ConfigurationInputRequest = {
  name: { minLength: 1, maxLength: 100 },
  description: { maxLength: 10000, default: "" },
  ml_models: { minItems: 1, maxItems: 50 },
} as const

export const ControlRecordInputRequest = {
  control_topic: { minLength: 1, pattern: "^[A-Za-z0-9._-]{1,249}$" },
  partition: { minimum: 0n, maximum: 2147483647n },
  offset: { minimum: 0n, maximum: 9223372036854775807n },
  record: { maxLength: 5592408 },
} as const

export const CredentialsInputRequest = {
  username: { minLength: 1, maxLength: 150 },
  password: { minLength: 1, maxLength: 128 },
} as const

export const DeploymentInputRequest = {
  configuration: { minimum: 1n, maximum: 4611686018427387904n },
  kind: { default: "federated" },
  validation_datasource: { minimum: 1n, maximum: 4611686018427387904n },
  coordination: { default: "blockchain" },
  rounds: { minimum: 1n, maximum: 100000n, default: 10 },
  epochs: { minimum: 1n, maximum: 10000n, default: 1 },
  batch: { minimum: 1n, maximum: 1000000n, default: 32 },
  strategy: { default: "fedasync" },
  min_data: { minimum: 0n, maximum: 4611686018427387904n, default: 0 },
  reward_policy: { default: "improvement" },
  reward_base: { minLength: 1, maxLength: 40, default: "1" },
  reward_budget: { maxLength: 40, default: "" },
  reject_ratio: { minimum: 1, maximum: 1000000, default: 1.5 },
  exclude_after: { minimum: 0n, maximum: 1000000n, default: 0 },
  sample_weighting: { default: "capped" },
  stream_timeout_s: { minimum: 0, maximum: 2592000, default: 0 },
  window: { minimum: 1n, maximum: 1000000n, default: 1000 },
  monitor_metric: { minLength: 1, maxLength: 40, default: "val_loss" },
  monitor_mode: { default: "min" },
  improvement: { minimum: 0, maximum: 1000000, default: 0 },
} as const

export const InferenceInputRequest = {
  result: { minimum: 1n, maximum: 4611686018427387904n },
  replicas: { minimum: 1n, maximum: 32n, default: 1 },
  input_topic: { minLength: 1, pattern: "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,249}$" },
  output_topic: { minLength: 1, pattern: "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,249}$" },
  error_topic: { minLength: 1, pattern: "^(?!\\.{1,2}$)[A-Za-z0-9._-]{1,249}$" },
  bootstrap_servers: { maxLength: 1000, default: "" },
  batch: { minimum: 1n, maximum: 10000n },
} as const

export const ModelInputRequest = {
  name: { minLength: 1, maxLength: 100 },
  description: { maxLength: 10000, default: "" },
  source: { minLength: 1, maxLength: 200000 },
} as const

export const PatchedModelUpdateInputRequest = {
  name: { minLength: 1, maxLength: 100 },
  description: { maxLength: 10000 },
  source: { minLength: 1, maxLength: 200000 },
} as const

export const ReportInputRequest = {
  result_id: { maxLength: 40 },
  sender: { minLength: 1, maxLength: 200 },
  time: { minLength: 1, maxLength: 64 },
} as const

export const UndeliverableInputRequest = {
  reason: { minLength: 1, maxLength: 2000 },
  size: { minimum: 0n, maximum: 4611686018427387904n },
  sha256: { minLength: 1, pattern: "^[0-9a-f]{64}$" },
} as const

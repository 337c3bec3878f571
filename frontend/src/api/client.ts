/**
 * The typed API client: generated types (schema.d.ts, from backend/openapi.yaml) + openapi-fetch.
 *
 * Authentication is the backend's session cookie; Django wants the CSRF token in a header on every
 * unsafe request, so a middleware fetches it once (and again after sign-in, which rotates it).
 * Every call goes through `call`, which turns an error answer into an `ApiError` carrying the
 * backend's field errors, so pages can show them next to the fields they belong to.
 */
import createClient, { type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type Schemas = components['schemas']
export type Model = Schemas['ModelOutput']
export type Configuration = Schemas['ConfigurationOutput']
export type Deployment = Schemas['DeploymentOutput']
export type DeploymentInput = Schemas['DeploymentInputRequest']
export type Result = Schemas['ResultOutput']
export type Round = Schemas['RoundOutput']
export type Chart = Schemas['ChartOutput']
export type TrainingChain = Schemas['TrainingChainOutput']
export type ChainStatus = Schemas['ChainStatusOutput']
export type Audit = Schemas['AuditOutput']
export type Datasource = Schemas['DatasourceOutput']
export type Rejected = Schemas['RejectedOutput']
export type ClientList = Schemas['ClientListOutput']
export type User = Schemas['UserOutput']

/** Field name → messages, as DRF answers a 400 (`detail` / `non_field_errors` for the whole request). */
export type FieldErrors = Record<string, unknown>

export class ApiError extends Error {
  readonly status: number
  readonly body: FieldErrors

  constructor(status: number, body: unknown) {
    const fields = body && typeof body === 'object' ? (body as FieldErrors) : {}
    super(describe(status, fields))
    this.status = status
    this.body = fields
  }

  /** The messages for one field (`a.b` for nested ones), or [] if it has none. */
  field(name: string): string[] {
    let value: unknown = this.body
    for (const part of name.split('.')) {
      value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined
    }
    return messages(value)
  }
}

/** Flatten whatever DRF put under a field (a string, a list, nested objects) into readable lines. */
export function messages(value: unknown): string[] {
  if (value === undefined || value === null) return []
  if (typeof value === 'string') return [value]
  if (Array.isArray(value)) return value.flatMap(messages)
  if (typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([key, item]) =>
      messages(item).map((text) => `${key}: ${text}`),
    )
  }
  return [String(value)]
}

function describe(status: number, body: FieldErrors): string {
  const whole = [...messages(body.detail), ...messages(body.non_field_errors)]
  if (whole.length) return whole.join(' ')
  if (status === 0) return 'The platform cannot be reached. Check your connection and try again.'
  if (status === 400) return 'Some fields are not valid: see the messages next to them.'
  if (status === 401 || status === 403) return 'You are not signed in, or not allowed to do this.'
  if (status === 404) return 'Not found: it may have been deleted.'
  if (status >= 500) return `The platform failed to answer (HTTP ${status}). Try again in a moment.`
  return `The request failed (HTTP ${status}).`
}

let csrfToken: string | null = null

/** Forget the CSRF token (sign-in and sign-out rotate it). */
export function resetCsrf(): void {
  csrfToken = null
}

async function csrf(): Promise<string> {
  if (csrfToken === null) {
    const response = await fetch('/api/auth/csrf/', { credentials: 'same-origin' })
    const body = (await response.json()) as { csrf_token: string }
    csrfToken = body.csrf_token
  }
  return csrfToken
}

const csrfMiddleware: Middleware = {
  async onRequest({ request }) {
    if (!['GET', 'HEAD', 'OPTIONS'].includes(request.method)) {
      request.headers.set('X-CSRFToken', await csrf())
    }
    return request
  },
}

// Absolute, so that requests are valid outside a browser too (component tests under jsdom); the
// global fetch looked up at each call, so that a test's stand-in for it is the one used.
export const api = createClient<paths>({
  baseUrl: globalThis.location?.origin ?? '',
  credentials: 'same-origin',
  fetch: (request: Request) => globalThis.fetch(request),
})
api.use(csrfMiddleware)

type Answer<T> = { data?: T; error?: unknown; response: Response }

/** Await an openapi-fetch call: its data, or an `ApiError` (status 0 when the network failed). */
export async function call<T>(request: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>
  try {
    answer = await request
  } catch {
    throw new ApiError(0, {})
  }
  if (!answer.response.ok) throw new ApiError(answer.response.status, answer.error)
  return answer.data as T
}

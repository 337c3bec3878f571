/** Test data shaped like the backend's answers, and a fetch stub that routes by path (tests only). */
import { vi } from 'vitest'
import type { Audit, Result, Round, TrainingChain } from '../api/client'

export const TOKEN = 10n ** 18n

export function units(tokensAmount: number): string {
  return (BigInt(Math.round(tokensAmount * 1000)) * (TOKEN / 1000n)).toString()
}

export function hex(seed: number, length = 64): string {
  return seed.toString(16).padStart(length, '0')
}

export const CLIENTS = ['0x' + 'a'.repeat(40), '0x' + 'b'.repeat(40), '0x' + 'c'.repeat(40)]

/** Round `version` with one update per client (the last client's rejected when `reject`). */
export function round(
  version: number,
  options: { clients?: string[]; reject?: boolean; tx?: boolean; privacy?: Round['privacy'] } = {},
): Round {
  const clients = options.clients ?? CLIENTS.slice(0, 2)
  return {
    version,
    val_loss: 1 / version,
    val_accuracy: 0.5 + version / 100,
    elapsed_s: 2 + version / 10,
    sha256: hex(1000 + version),
    pointer: { topic: 'kafkaml-weights-7', partition: 0, start_offset: version * 3, end_offset: version * 3 + 3 },
    contributions: clients.map((client, index) => {
      const rejected = Boolean(options.reject) && index === clients.length - 1
      return {
        client,
        samples: 100 * (index + 1),
        staleness: index,
        base_version: version - 1 - index,
        reward: rejected ? '0' : units(index + 1),
        accepted: !rejected,
        reason: rejected ? 'loss above the reject ratio' : '',
        sha256: hex(version * 100 + index),
      }
    }),
    transaction: options.tx === false ? null : { hash: '0x' + hex(5000 + version), gas: 100_000 + version, block: 40 + version },
    privacy: options.privacy ?? null,
    received_at: new Date(Date.UTC(2025, 0, 1, 12, 0, version)).toISOString(),
  }
}

export function result(overrides: Partial<Result> = {}): Result {
  return {
    id: 7,
    deployment: 3,
    kind: 'federated',
    ml_model: 2,
    model_name: 'mnist-cnn',
    status: 'running',
    federated_id: 'fed-7',
    aggregator_address: '0x' + 'd'.repeat(40),
    contract_address: '0x' + 'e'.repeat(40),
    explorer_url: 'http://explorer.test/address/0x' + 'e'.repeat(40),
    error: '',
    final: null,
    model_sha256: '',
    rounds_done: 0,
    created_at: '2025-01-01T12:00:00Z',
    started_at: '2025-01-01T12:00:01Z',
    finished_at: null,
    ...overrides,
  }
}

export function chain(overrides: Partial<TrainingChain> = {}): TrainingChain {
  return {
    contract_address: '0x' + 'e'.repeat(40),
    phase: 'training',
    versions: 3,
    budget: units(100),
    credited: units(9),
    announcement_hash: null,
    explorer_url: 'http://explorer.test/address/0x' + 'e'.repeat(40),
    clients: [
      { client: CLIENTS[0]!, sample_ceiling: 100, earned: units(3), paid: units(1), balance: units(1) },
      { client: CLIENTS[1]!, sample_ceiling: 200, earned: units(6), paid: units(2), balance: units(2) },
    ],
    ...overrides,
  }
}

export function audit(overrides: Partial<Audit> = {}): Audit {
  return { id: 1, result: 7, status: 'running', report: null, created_at: '2025-01-01T12:10:00Z', finished_at: null, ...overrides }
}

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

type Handler = (url: URL, init: RequestInit | undefined, request: Request | undefined) => Response | Promise<Response>

/**
 * Stub `fetch`: `routes` maps "METHOD /path/" to a handler, a fixed Response (cloned for each
 * request) or a fixed JSON body; unknown paths 404.
 * Returns the mock, whose calls record each request as "METHOD /path/?query".
 */
export function stubFetch(routes: Record<string, Handler | unknown>) {
  const seen: string[] = []
  const mock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : undefined
    const url = new URL(request ? request.url : String(input), 'http://localhost')
    const method = (request?.method ?? init?.method ?? 'GET').toUpperCase()
    seen.push(`${method} ${url.pathname}${url.search}`)
    const route = routes[`${method} ${url.pathname}`]
    if (route === undefined) {
      if (url.pathname === '/api/auth/csrf/') return json({ csrf_token: 'token' })
      return json({ detail: 'Not found.' }, 404)
    }
    if (route instanceof Response) return route.clone()
    return typeof route === 'function' ? (route as Handler)(url, init, request) : json(route)
  })
  vi.stubGlobal('fetch', mock)
  return { mock, seen }
}

/** jsdom has no ResizeObserver; the charts only need it to exist. */
export function stubResizeObserver() {
  vi.stubGlobal(
    'ResizeObserver',
    class {
      observe() {}
      unobserve() {}
      disconnect() {}
    },
  )
}

import { afterEach, describe, expect, it, vi } from 'vitest'
import { api, ApiError, call, messages, resetCsrf } from './client'

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

afterEach(() => {
  vi.unstubAllGlobals()
  resetCsrf()
})

describe('ApiError', () => {
  it('keeps field errors, nested ones included, and says what went wrong as a whole', () => {
    const error = new ApiError(400, { rounds: ['too big'], clients: [{ identity: ['not an address'] }] })
    expect(error.field('rounds')).toEqual(['too big'])
    expect(error.field('clients.0.identity')).toEqual(['not an address'])
    expect(error.field('epochs')).toEqual([])
    expect(error.message).toMatch(/next to them/)
    expect(new ApiError(409, { detail: 'the model is used by configuration 3' }).message).toBe(
      'the model is used by configuration 3',
    )
    expect(new ApiError(0, {}).message).toMatch(/cannot be reached/)
    expect(new ApiError(502, '<html>bad gateway</html>').message).toMatch(/HTTP 502/)
  })

  it('flattens whatever DRF nests', () => {
    expect(messages({ a: ['x', { b: 'y' }] })).toEqual(['a: x', 'a: b: y'])
    expect(messages(undefined)).toEqual([])
  })
})

describe('call', () => {
  it('sends the CSRF token on unsafe requests only, fetching it once', async () => {
    const seen: Request[] = []
    vi.stubGlobal(
      'fetch',
      vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
        const request = input instanceof Request ? input : new Request(new URL(String(input), 'http://ui.test'), init)
        seen.push(request)
        if (request.url.endsWith('/api/auth/csrf/')) return json({ csrf_token: 'token-1' })
        return json({ id: 1, username: 'alice', is_staff: false })
      }),
    )
    await call(api.GET('/api/auth/me/'))
    await call(api.POST('/api/auth/logout/'))
    await call(api.POST('/api/auth/logout/'))
    const posts = seen.filter((request) => request.method === 'POST')
    expect(posts.map((request) => request.headers.get('X-CSRFToken'))).toEqual(['token-1', 'token-1'])
    expect(seen.filter((request) => request.url.endsWith('/api/auth/csrf/'))).toHaveLength(1)
    expect(seen[0]?.headers.get('X-CSRFToken')).toBeNull()
  })

  it('turns an error answer into an ApiError and a network failure into status 0', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => json({ name: ['required'] }, 400)))
    const error = await call(api.GET('/api/models/')).catch((failure: unknown) => failure)
    expect(error).toBeInstanceOf(ApiError)
    expect((error as ApiError).field('name')).toEqual(['required'])
    vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('offline'))))
    const offline = await call(api.GET('/api/models/')).catch((failure: unknown) => failure)
    expect((offline as ApiError).status).toBe(0)
  })
})

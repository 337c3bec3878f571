/**
 * The one query layer (TanStack Query): every read of the API is a `queryOptions` in the api/
 * folder of its feature (or in lists.ts when several features read it), keyed by the API path
 * and its parameters, so that pages reading the same thing share one request and one cache.
 */
import { QueryClient, type UseQueryResult } from '@tanstack/react-query'
import type { ApiError } from './client'

declare module '@tanstack/react-query' {
  interface Register {
    // `call` turns every failure into an ApiError (status 0 when the network failed).
    defaultError: ApiError
  }
}

/**
 * No retries: an error is shown at once with its "Try again" (a 404 or a 403 does not heal by
 * asking again). No refetch on focus: pages that follow something poll it (`refetchInterval`),
 * the others show what they loaded when opened.
 */
export function newQueryClient(): QueryClient {
  return new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } })
}

/** What a page shows for loaded data: the data, the error, and a way to ask again. */
export type Loaded<T> = { data: T | undefined; error: ApiError | null; refetch: () => unknown }

type Data<Q> = Q extends UseQueryResult<infer T, ApiError> ? T : never

/**
 * Several queries as one loaded value (for `useQueries`' `combine`): `build` of all their data once
 * every one has it, the first error, and "ask again" for those that failed (or all when none did).
 */
export function combined<const Q extends readonly UseQueryResult<unknown, ApiError>[], T>(
  results: Q,
  build: (data: { [K in keyof Q]: Data<Q[K]> }) => T,
): Loaded<T> {
  const ready = results.every((result) => result.data !== undefined)
  const failed = results.filter((result) => result.error)
  return {
    data: ready ? build(results.map((result) => result.data) as { [K in keyof Q]: Data<Q[K]> }) : undefined,
    error: failed[0]?.error ?? null,
    refetch: () => (failed.length ? failed : results).forEach((result) => void result.refetch()),
  }
}

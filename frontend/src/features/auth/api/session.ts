/**
 * Who is signed in. The session cookie is the backend's; the query cache holds the answer of
 * `/api/auth/me/` (null when there is no session), so every page sees the same user, and signing
 * in or out through the API updates it.
 */
import { queryOptions, useQuery, useQueryClient } from '@tanstack/react-query'
import { useCallback } from 'react'
import { api, ApiError, call, resetCsrf, type User } from '../../../api/client'

const me = () => call(api.GET('/api/auth/me/'))

const session = queryOptions({
  queryKey: ['/api/auth/me/'],
  queryFn: (): Promise<User | null> => me().catch(() => null),
  // Asked once at start; afterwards only signing in and out change it.
  staleTime: Infinity,
})

export type Auth = {
  user: User | null
  checking: boolean
  signIn: (username: string, password: string) => Promise<void>
  signOut: () => Promise<void>
}

export function useAuth(): Auth {
  const client = useQueryClient()
  const { data, isPending } = useQuery(session)

  const signIn = useCallback(
    async (username: string, password: string) => {
      resetCsrf()
      await call(api.POST('/api/auth/login/', { body: { username, password } }))
      resetCsrf()
      client.setQueryData(session.queryKey, await me())
    },
    [client],
  )

  const signOut = useCallback(async () => {
    try {
      await call(api.POST('/api/auth/logout/'))
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) throw error
    }
    resetCsrf()
    // What the user's pages loaded is theirs: nothing of it stays for whoever signs in next.
    client.removeQueries({ predicate: (query) => query.queryKey[0] !== session.queryKey[0] })
    client.setQueryData(session.queryKey, null)
  }, [client])

  return { user: data ?? null, checking: isPending, signIn, signOut }
}

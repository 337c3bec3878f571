/**
 * Who is signed in. The session cookie is the backend's; this context only asks `/api/auth/me/`
 * at start, and signs in and out through the API, so every page sees the same user.
 */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react'
import { api, ApiError, call, resetCsrf, type User } from './api/client'

type Auth = {
  user: User | null
  checking: boolean
  signIn: (username: string, password: string) => Promise<void>
  signOut: () => Promise<void>
}

const AuthContext = createContext<Auth | null>(null)

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null)
  const [checking, setChecking] = useState(true)

  useEffect(() => {
    call(api.GET('/api/auth/me/'))
      .then(setUser)
      .catch(() => setUser(null))
      .finally(() => setChecking(false))
  }, [])

  const signIn = useCallback(async (username: string, password: string) => {
    resetCsrf()
    await call(api.POST('/api/auth/login/', { body: { username, password } }))
    resetCsrf()
    setUser(await call(api.GET('/api/auth/me/')))
  }, [])

  const signOut = useCallback(async () => {
    try {
      await call(api.POST('/api/auth/logout/'))
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 401 && error.status !== 403)) throw error
    }
    resetCsrf()
    setUser(null)
  }, [])

  return <AuthContext.Provider value={{ user, checking, signIn, signOut }}>{children}</AuthContext.Provider>
}

export function useAuth(): Auth {
  const auth = useContext(AuthContext)
  if (!auth) throw new Error('useAuth outside <AuthProvider>')
  return auth
}

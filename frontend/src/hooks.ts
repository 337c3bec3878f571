/** Loading data from the API with its three states, and polling it while a page is open. */
import { useCallback, useEffect, useRef, useState } from 'react'
import { ApiError } from './api/client'

export type Loaded<T> = {
  data: T | undefined
  error: ApiError | null
  loading: boolean
  reload: () => void
}

/**
 * `load()` now and whenever `deps` change; with `pollMs`, again every `pollMs` while mounted
 * (the previous answer stays on screen while the next one is fetched, so nothing flickers).
 */
export function useApi<T>(load: () => Promise<T>, deps: unknown[], pollMs?: number): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined)
  const [error, setError] = useState<ApiError | null>(null)
  const [loading, setLoading] = useState(true)
  const [tick, setTick] = useState(0)
  const loader = useRef(load)
  loader.current = load

  useEffect(() => {
    let live = true
    loader
      .current()
      .then((value) => {
        if (live) {
          setData(value)
          setError(null)
        }
      })
      .catch((failure: unknown) => {
        if (live) setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
      })
      .finally(() => live && setLoading(false))
    return () => {
      live = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick])

  useEffect(() => {
    if (!pollMs) return
    const timer = window.setInterval(() => setTick((value) => value + 1), pollMs)
    return () => window.clearInterval(timer)
  }, [pollMs])

  const reload = useCallback(() => setTick((value) => value + 1), [])
  return { data, error, loading: loading && data === undefined, reload }
}

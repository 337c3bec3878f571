/**
 * A training's rounds, kept up to date: all of them once, then (while `live`) only the newer ones
 * every `timing.roundsMs` (`/rounds/?after=<last version>`), appended in place so that nothing
 * already drawn is fetched or drawn again. When `live` turns off, one last request picks up the
 * rounds reported just before the end.
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { api, ApiError, call, type Round } from './api/client'
import { lastVersion, mergeRounds, timing } from './training'

export type LiveRounds = { rounds: Round[] | undefined; error: ApiError | null; reload: () => void }

export function useRounds(id: number, live: boolean): LiveRounds {
  const [rounds, setRounds] = useState<Round[] | undefined>(undefined)
  const [error, setError] = useState<ApiError | null>(null)
  const known = useRef<Round[]>([])
  const busy = useRef(0) // the generation whose request is under way, 0 when none
  const again = useRef(false)
  const generation = useRef(0)

  useEffect(() => {
    generation.current += 1
    known.current = []
    setRounds(undefined)
    setError(null)
  }, [id])

  /** Ask for the rounds after the last known one; `queue`: if a request is under way, ask again after it. */
  const fetchNewer = useCallback(
    async (queue: boolean) => {
      const mine = generation.current
      if (busy.current === mine) {
        if (queue) again.current = true
        return
      }
      busy.current = mine
      try {
        do {
          again.current = false
          const after = lastVersion(known.current)
          const incoming = await call(
            api.GET('/api/results/{id}/rounds/', {
              params: { path: { id }, query: after === null ? {} : { after } },
            }),
          )
          if (mine !== generation.current) return
          const merged = mergeRounds(known.current, incoming)
          if (merged !== known.current || known.current.length === 0) {
            known.current = merged
            setRounds(merged)
          }
          setError(null)
        } while (again.current && mine === generation.current)
      } catch (failure) {
        if (mine === generation.current) setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
      } finally {
        if (busy.current === mine) busy.current = 0
      }
    },
    [id],
  )

  useEffect(() => {
    void fetchNewer(true)
    if (!live) return
    const timer = window.setInterval(() => void fetchNewer(false), timing.roundsMs)
    return () => window.clearInterval(timer)
  }, [fetchNewer, live])

  const reload = useCallback(() => void fetchNewer(true), [fetchNewer])
  return { rounds, error, reload }
}

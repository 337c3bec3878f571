/**
 * The state of a settings form (the deployment and inference forms): the values as typed, which
 * fields were touched, the rules' messages (shown once a field is touched or the form submitted),
 * the backend's 400 placed on the fields (forgotten when the field changes), a failure that names
 * no field, and the first invalid field focused after a refused submit.
 */
import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { ApiError } from '../api/client'

/** Field key → messages; nested keys: `strategy_params.alpha`, `clients.0.identity`. */
export type Errors = Record<string, string[]>

export function useSettingsForm<V extends object>(initial: () => V, rules: (values: V) => Errors) {
  const [values, setValues] = useState<V>(initial)
  const [touched, setTouched] = useState<Set<string>>(new Set())
  const [submitted, setSubmitted] = useState(false)
  const [server, setServer] = useState<Errors>({})
  const [failure, setFailure] = useState<ApiError | null>(null)
  const [busy, setBusy] = useState(false)
  const [focusInvalid, setFocusInvalid] = useState(0)
  const local = useMemo(() => rules(values), [rules, values])
  const invalid = Object.keys(local).length > 0

  useEffect(() => {
    if (focusInvalid) document.querySelector<HTMLElement>('.authoring-form [aria-invalid="true"]')?.focus()
  }, [focusInvalid])

  /** The messages shown for a field: its rule's once touched (or after a submit), and the backend's. */
  function errors(key: string): string[] {
    const own = submitted || touched.has(key) ? (local[key] ?? []) : []
    return [...own, ...(server[key] ?? []).filter((message) => !own.includes(message))]
  }

  function touch(key: string) {
    setTouched((was) => (was.has(key) ? was : new Set(was).add(key)))
  }

  /** Forget the backend's errors about what just changed (keys equal to or under a prefix). */
  function forget(...prefixes: string[]) {
    setServer((was) => {
      const kept = Object.entries(was).filter(([key]) => !prefixes.some((p) => key === p || key.startsWith(`${p}.`)))
      return kept.length === Object.keys(was).length ? was : Object.fromEntries(kept)
    })
  }

  function set<K extends keyof V & string>(key: K, value: V[K]) {
    setValues((was) => ({ ...was, [key]: value }))
    touch(key)
    forget(key)
  }

  /** Send valid values; a 400 is placed on the fields by `place`, anything else is the form's failure. */
  async function submit(event: FormEvent, send: () => Promise<unknown>, place: (error: ApiError) => Errors) {
    event.preventDefault()
    setSubmitted(true)
    setFailure(null)
    if (invalid) {
      setFocusInvalid((count) => count + 1)
      return
    }
    setBusy(true)
    try {
      await send()
    } catch (thrown) {
      const error = thrown instanceof ApiError ? thrown : new ApiError(0, {})
      const placed = error.status === 400 ? place(error) : {}
      setServer(placed)
      if (Object.keys(placed).length) setFocusInvalid((count) => count + 1)
      else setFailure(error)
    } finally {
      setBusy(false)
    }
  }

  /** Whether the form says "some settings need attention" above its fields. */
  const attention = submitted && (invalid || Object.keys(server).length > 0)
  return { values, setValues, errors, touch, forget, set, submit, busy, failure, attention }
}

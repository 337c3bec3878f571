/**
 * A destructive action asked for twice: its button, then a confirmation in place (the question, "Yes, …",
 * Cancel) that runs it and shows why it failed, if it does, in place, or hands the failure to
 * `onError` (a page that explains it elsewhere) and closes.
 */
import { useState } from 'react'
import { ApiError } from '../api/client'
import { ErrorNotice } from './States'

export function ConfirmButton({ label, name, question, confirm, busyText, group, run, onError }: {
  /** The button's text ("Stop"), and its accessible name when the text alone is ambiguous in a list. */
  label: string
  name?: string
  question?: string
  /** The confirming button's text ("Yes, stop it") and its text while the action runs. */
  confirm: string
  busyText: string
  /** The confirmation's accessible name. */
  group: string
  run: () => Promise<unknown>
  onError?: (error: ApiError) => void
}) {
  const [asking, setAsking] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)

  async function act() {
    setBusy(true)
    setError(null)
    try {
      await run()
      setAsking(false)
    } catch (failure) {
      const reason = failure instanceof ApiError ? failure : new ApiError(0, {})
      if (onError) {
        onError(reason)
        setAsking(false)
      } else setError(reason)
    } finally {
      setBusy(false)
    }
  }

  if (!asking) {
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)} aria-label={name}>
        {label}
      </button>
    )
  }
  return (
    <div className="confirm" role="group" aria-label={group}>
      {question && <span>{question}</span>}
      <button type="button" className="danger" onClick={() => void act()} disabled={busy} autoFocus>
        {busy ? busyText : confirm}
      </button>
      <button type="button" onClick={() => setAsking(false)} disabled={busy}>
        Cancel
      </button>
      {error && <ErrorNotice error={error} />}
    </div>
  )
}

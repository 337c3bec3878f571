/** What the inference pages share: its topics as text, and stop and delete with a confirmation in place. */
import { useQueryClient } from '@tanstack/react-query'
import { useState } from 'react'
import { ApiError } from '../../../api/client'
import { ErrorNotice } from '../../../components/States'
import { deleteInference, stopInference, type Inference } from '../api/inferences'

/** How often a page following a starting or running inference asks again. */
export const POLL_MS = 3000

export const isRunning = (inference: Inference) => inference.status === 'created' || inference.status === 'running'

export function Topics({ inference }: { inference: Inference }) {
  return (
    <span className="mono">
      {inference.input_topic} → {inference.output_topic}
      <span className="muted"> (errors: {inference.error_topic})</span>
    </span>
  )
}

/** Stop while it runs; delete once it has ended. `onDeleted` runs after a deletion (the detail page leaves). */
export function Actions({ inference, onDeleted }: { inference: Inference; onDeleted?: () => void }) {
  const client = useQueryClient()
  const [asking, setAsking] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)
  const running = isRunning(inference)
  const verb = running ? 'Stop' : 'Delete'

  async function act() {
    setBusy(true)
    setError(null)
    try {
      if (running) await stopInference(inference.id)
      else await deleteInference(inference.id)
      setAsking(false)
      if (!running) onDeleted?.()
      await client.invalidateQueries({ queryKey: ['/api/inferences/'] })
      await client.invalidateQueries({ queryKey: ['/api/inferences/{id}/', inference.id] })
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
    } finally {
      setBusy(false)
    }
  }

  if (!asking) {
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)} aria-label={`${verb} inference ${inference.id}`}>
        {verb}
      </button>
    )
  }
  return (
    <div className="confirm" role="group" aria-label={`Confirm: ${verb.toLowerCase()} inference ${inference.id}`}>
      <span>{running ? 'Stop it? Its workers end; it cannot be resumed.' : 'Delete it? Its record goes; its topics stay.'}</span>
      <button type="button" className="danger" onClick={() => void act()} disabled={busy} autoFocus>
        {busy ? `${verb === 'Stop' ? 'Stopping' : 'Deleting'}…` : `Yes, ${verb.toLowerCase()} it`}
      </button>
      <button type="button" onClick={() => setAsking(false)} disabled={busy}>
        Cancel
      </button>
      {error && <ErrorNotice error={error} />}
    </div>
  )
}

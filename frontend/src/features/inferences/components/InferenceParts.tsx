/** What the inference pages share: its topics as text, and stop and delete with a confirmation in place. */
import { useQueryClient } from '@tanstack/react-query'
import { ConfirmButton } from '../../../components/ConfirmButton'
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
  // The list, and this inference's page (its own key): both show its status.
  const refresh = () => Promise.all([client.invalidateQueries({ queryKey: ['/api/inferences/'] }),
    client.invalidateQueries({ queryKey: ['/api/inferences/{id}/', inference.id] })])
  if (isRunning(inference)) {
    return (
      <ConfirmButton label="Stop" name={`Stop inference ${inference.id}`} question="Stop it? Its workers end; it cannot be resumed."
        confirm="Yes, stop it" busyText="Stopping…" group={`Confirm: stop inference ${inference.id}`}
        run={() => stopInference(inference.id).then(refresh)} />
    )
  }
  return (
    <ConfirmButton label="Delete" name={`Delete inference ${inference.id}`} question="Delete it? Its record goes; its topics stay."
      confirm="Yes, delete it" busyText="Deleting…" group={`Confirm: delete inference ${inference.id}`}
      run={() => deleteInference(inference.id).then(() => {
        onDeleted?.()
        return client.invalidateQueries({ queryKey: ['/api/inferences/'] })
      })} />
  )
}

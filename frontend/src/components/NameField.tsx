/** The name of a model or a configuration: required and at most as long as the API allows (the
 * same limit for both), checked as the user types once the field was touched, with the backend's
 * own errors beside. */
import { ModelInputRequest } from '../api/limits'
import { Field } from './Field'

export const NAME_MAX = ModelInputRequest.name.maxLength

export function nameProblem(name: string, what: string): string {
  if (!name.trim()) return `Give the ${what} a name.`
  return name.length > NAME_MAX ? `At most ${NAME_MAX} characters.` : ''
}

export function NameField({ value, what, touched, serverErrors = [], autoFocus, onChange }: {
  value: string
  what: string
  touched: boolean
  serverErrors?: string[]
  autoFocus?: boolean
  onChange: (value: string) => void
}) {
  const problem = touched ? nameProblem(value, what) : ''
  return (
    <Field label="Name" errors={[...(problem ? [problem] : []), ...serverErrors]}>
      {(props) => (
        <input {...props} value={value} maxLength={NAME_MAX} autoComplete="off" autoFocus={autoFocus}
          onChange={(event) => onChange(event.target.value)} />
      )}
    </Field>
  )
}

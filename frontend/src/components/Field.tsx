/** A labelled form field with its help text and its errors in place (linked for screen readers). */
import { useId, type ReactNode } from 'react'

export function Field({
  label,
  help,
  errors = [],
  children,
}: {
  label: string
  help?: ReactNode
  errors?: string[]
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ReactNode
}) {
  const id = useId()
  const helpId = help ? `${id}-help` : undefined
  const errorId = errors.length ? `${id}-error` : undefined
  const describedBy = [helpId, errorId].filter(Boolean).join(' ') || undefined
  return (
    <div className={`field${errors.length ? ' invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-describedby': describedBy, 'aria-invalid': errors.length ? true : undefined })}
      {help && (
        <small id={helpId} className="help">
          {help}
        </small>
      )}
      {errorId && (
        <ul id={errorId} className="field-errors">
          {errors.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      )}
    </div>
  )
}

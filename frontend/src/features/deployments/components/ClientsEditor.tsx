/** The clients a deployment admits: one row per client, its identity and its sample ceiling. */
import { useEffect, useRef } from 'react'
import { Field } from '../../../components/Field'
import { RANGES, type ClientRow, type Coordination } from '../lib/rules'

type Props = {
  clients: ClientRow[]
  coordination: Coordination
  errors: (key: string) => string[]
  onChange: (clients: ClientRow[]) => void
  onTouch: (key: string) => void
}

let nextKey = 1

export function ClientsEditor({ clients, coordination, errors, onChange, onTouch }: Props) {
  const added = useRef<number | null>(null)
  const list = useRef<HTMLDivElement>(null)

  // Keyboard users land in the row they just added.
  useEffect(() => {
    if (added.current === null) return
    list.current?.querySelector<HTMLInputElement>(`[data-row="${added.current}"] input`)?.focus()
    added.current = null
  }, [clients.length])

  function update(index: number, change: Partial<ClientRow>) {
    onChange(clients.map((client, at) => (at === index ? { ...client, ...change } : client)))
    onTouch(`clients.${index}.${change.identity !== undefined ? 'identity' : 'sample_ceiling'}`)
  }

  function add() {
    const key = nextKey++
    added.current = key
    onChange([...clients, { key, identity: '', ceiling: '' }])
  }

  const listErrors = errors('clients')
  return (
    <fieldset>
      <legend>Clients</legend>
      <p className="help">
        The data owners admitted to the training, each with the size of the data it matched (its sample ceiling:
        reported sample counts are capped to it and rewards shared by it).{' '}
        {coordination === 'blockchain'
          ? 'Blockchain coordination registers exactly these addresses on the training contract.'
          : 'Classic coordination identifies clients by their client id.'}
      </p>
      <div ref={list}>
        {clients.map((client, index) => (
          <div className="client-row" key={client.key} data-row={client.key}>
            <Field label={`Client ${index + 1} identity`} errors={errors(`clients.${index}.identity`)}
              help={coordination === 'blockchain' ? '0x followed by 40 hexadecimal digits.' : 'Letters, digits, . _ -'}>
              {(props) => (
                <input {...props} className="mono" autoComplete="off" spellCheck={false} value={client.identity}
                  placeholder={coordination === 'blockchain' ? '0x…' : 'client-1'}
                  onChange={(event) => update(index, { identity: event.target.value })}
                  onBlur={() => onTouch(`clients.${index}.identity`)} />
              )}
            </Field>
            <Field label={`Client ${index + 1} sample ceiling`} errors={errors(`clients.${index}.sample_ceiling`)}>
              {(props) => (
                <input {...props} type="number" min={String(RANGES.sample_ceiling[0])} step={1} inputMode="numeric" value={client.ceiling}
                  onChange={(event) => update(index, { ceiling: event.target.value })}
                  onBlur={() => onTouch(`clients.${index}.sample_ceiling`)} />
              )}
            </Field>
            <button type="button" onClick={() => onChange(clients.filter((_, at) => at !== index))}>
              Remove client {index + 1}
            </button>
          </div>
        ))}
      </div>
      {clients.length === 0 && <p>No clients yet.</p>}
      {listErrors.length > 0 && (
        <ul className="field-errors" role="alert">
          {listErrors.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      )}
      <button type="button" onClick={add}>
        Add client
      </button>
    </fieldset>
  )
}

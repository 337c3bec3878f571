/**
 * Create or edit a model: its name, description and Keras source in a Python editor. Saving checks
 * the source's syntax at once (an error comes back with its line) and queues its build; the page
 * then follows the build (asking again while it runs) to its outcome: what the builder found
 * (Summary), or the builder's error, marked on its line in the editor with the message beside it.
 * Deleting asks for confirmation; a model still in use (409) says so.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useState, type FormEvent } from 'react'
import { Link, useLocation, useParams } from 'wouter'
import { ApiError, type Model } from '../../../api/client'
import { Field } from '../../../components/Field'
import { NameField, nameProblem } from '../../../components/NameField'
import { Page } from '../../../components/Page'
import { ErrorNotice, Guard } from '../../../components/States'
import { when } from '../../../lib/format'
import '../../../styles/authoring.css'
import { createModel, deleteModel, modelQuery, updateModel } from '../api/models'
import { BuildStatus, buildTiming, isBuilding, ModelSummary } from './ModelSummary'
import { SourceEditor, type SourceError } from './SourceEditor'

const EXAMPLE = `import keras

model = keras.Sequential([
    keras.Input(shape=(8,)),
    keras.layers.Dense(16, activation="relu"),
    keras.layers.Dense(3, activation="softmax"),
])
compile_args = {
    "optimizer": "adam",
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
}
`

export default function ModelEditor() {
  const { id } = useParams<{ id?: string }>()
  // A new editor for each model: the one created on /models/new reopens as /models/<id>.
  return id === undefined ? <ModelForm key="new" model={null} /> : <ExistingModel key={id} id={Number(id)} />
}

function ExistingModel({ id }: { id: number }) {
  const client = useQueryClient()
  const valid = Number.isInteger(id) && id >= 1
  const query = modelQuery(id)
  const loaded = useQuery({
    ...query,
    enabled: valid,
    refetchInterval: ({ state }) => (state.data && isBuilding(state.data) ? buildTiming.pollMs : false),
  })
  if (!valid) {
    return (
      <Page title="Model not found">
        <ErrorNotice error="There is no such model." />
      </Page>
    )
  }
  return (
    <Guard loaded={loaded} what="the model">
      {(model) => <ModelForm model={model} onSaved={(saved) => client.setQueryData(query.queryKey, saved)} />}
    </Guard>
  )
}

type Problem = { text: string; line: number | null }

/** What is wrong with the source: the syntax check's 400 on saving, else the failed build's error. */
function sourceProblem(error: ApiError | null, saved: Model | null): Problem | null {
  if (error?.status === 400) {
    const text = error.field('source').join(' ')
    if (text) return { text, line: typeof error.body.line === 'number' ? error.body.line : null }
  }
  return saved?.status === 'failed' ? { text: saved.error, line: saved.line } : null
}

function ModelForm({ model, onSaved }: { model: Model | null; onSaved?: (saved: Model) => void }) {
  const [, navigate] = useLocation()
  const [saved, setSaved] = useState<Model | null>(model)
  const [name, setName] = useState(model?.name ?? '')
  const [description, setDescription] = useState(model?.description ?? '')
  const [source, setSource] = useState(model?.source ?? EXAMPLE)
  const [error, setError] = useState<ApiError | null>(null)
  const [busy, setBusy] = useState(false)
  const [notice, setNotice] = useState('')
  const [touched, setTouched] = useState({ name: false, source: false })
  useEffect(() => setSaved(model), [model]) // the build's progress, as the page polls it

  const invalidName = nameProblem(name, 'model')
  const sourceMissing = !source.trim() ? 'The source is empty.' : ''
  const problem = sourceProblem(error, saved)
  const building = saved !== null && isBuilding(saved)
  const marker = useMemo<SourceError | null>(
    () => (problem?.line ? { line: problem.line, message: problem.text } : null),
    [problem?.line, problem?.text],
  )

  async function submit(event: FormEvent) {
    event.preventDefault()
    setTouched({ name: true, source: true })
    setNotice('')
    if (invalidName || sourceMissing) return
    setBusy(true)
    setError(null)
    try {
      if (!saved) {
        const created = await createModel({ name, description, source })
        navigate(`/models/${created.id}`)
        return
      }
      const changes = {
        ...(name !== saved.name ? { name } : {}),
        ...(description !== (saved.description ?? '') ? { description } : {}),
        ...(source !== saved.source ? { source } : {}),
      }
      const updated = await updateModel(saved.id, changes)
      setSaved(updated)
      setNotice(changes.source !== undefined ? 'Saved; the model is being built again.' : 'Saved.')
      onSaved?.(updated) // the page follows a new build from this answer on
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
    } finally {
      setBusy(false)
    }
  }

  const fieldLevel = error?.status === 400 && (error.field('name').length || error.field('description').length)
  const showGeneral = error && !problem && !fieldLevel

  return (
    <Page
      title={saved ? saved.name : 'New model'}
      actions={<Link href="/models">All models</Link>}
    >
      <form onSubmit={submit} noValidate aria-label={saved ? `Edit ${saved.name}` : 'New model'}>
        <div className="authoring-columns">
          <NameField value={name} what="model" touched={touched.name} serverErrors={error?.field('name')}
            onChange={(value) => {
              setName(value)
              setTouched((was) => ({ ...was, name: true }))
            }} />
          <Field label="Description" errors={error?.field('description')}>
            {(props) => (
              <textarea {...props} rows={2} value={description} onChange={(event) => setDescription(event.target.value)} />
            )}
          </Field>
        </div>
        <div className={`field${problem || (touched.source && sourceMissing) ? ' invalid' : ''}`}>
          <span className="field-label" id="source-label">Model source</span>
          <small id="source-help" className="help">
            Python with Keras: define <code>model</code> with a declared input (<code>keras.Input(shape=…)</code>) and
            either a dict <code>compile_args</code> or a call to <code>model.compile(…)</code>. Tab indents; press
            Escape, then Tab, to leave the editor.
          </small>
          {problem && (
            <div className="state error" role="alert" id="source-error">
              {problem.line ? `Line ${problem.line}: ` : ''}
              {problem.text}
            </div>
          )}
          {touched.source && sourceMissing && <p className="field-errors" role="alert">{sourceMissing}</p>}
          <SourceEditor
            initial={source}
            onChange={(text) => {
              setSource(text)
              setTouched((was) => (was.source ? was : { ...was, source: true }))
            }}
            error={marker}
            describedBy={problem ? 'source-help source-error' : 'source-help'}
          />
        </div>
        {showGeneral && <ErrorNotice error={inUse(error)} />}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy || building}>
            Save model
          </button>
          {busy && <span role="status">Saving…</span>}
          {!busy && building && (
            <span role="status">Building the model… it waits for the platform's builder, then takes a few seconds.</span>
          )}
          {!busy && !building && notice && <span role="status">{notice}</span>}
        </div>
      </form>
      {saved && (
        <>
          <p className="help">
            <BuildStatus model={saved} /> Owner {saved.owner} · created {when(saved.created_at)} · updated{' '}
            {when(saved.updated_at)}
          </p>
          {saved.status === 'ready' && <ModelSummary model={saved} />}
          {!building && <DeleteModel model={saved} />}
        </>
      )}
    </Page>
  )
}

/** A 409 names what holds the model: say so plainly. */
function inUse(error: ApiError): string {
  return error.status === 409 ? `This model is in use: ${error.message}` : error.message
}

function DeleteModel({ model }: { model: Model }) {
  const [, navigate] = useLocation()
  const [asking, setAsking] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)

  async function remove() {
    setBusy(true)
    setError(null)
    try {
      await deleteModel(model.id)
      navigate('/models')
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
      setAsking(false)
    } finally {
      setBusy(false)
    }
  }

  return (
    <section aria-labelledby="delete-title" className="authoring-danger">
      <h2 id="delete-title">Delete</h2>
      {error && <ErrorNotice error={inUse(error)} />}
      {asking ? (
        <div role="group" aria-label="Confirm deletion" className="actions">
          <p>
            Delete the model <strong>{model.name}</strong>? This cannot be undone.
          </p>
          <button type="button" className="danger" onClick={() => void remove()} disabled={busy}>
            Yes, delete it
          </button>
          <button type="button" onClick={() => setAsking(false)} autoFocus>
            Cancel
          </button>
        </div>
      ) : (
        <button type="button" className="danger" onClick={() => setAsking(true)}>
          Delete model
        </button>
      )}
    </section>
  )
}

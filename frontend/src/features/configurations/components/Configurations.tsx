/**
 * Configurations: sets of the user's models deployed together. Lists them with their models and
 * deployments, creates one from checked models (only a model whose build is ready can be checked),
 * deploys one (link to the deployment form) and deletes one after confirmation (refused with the
 * reason while it has deployments).
 */
import { useQueries, useQueryClient } from '@tanstack/react-query'
import { useState, type FormEvent } from 'react'
import { Link } from 'wouter'
import { ApiError, type Configuration, type Model } from '../../../api/client'
import { ConfigurationInputRequest } from '../../../api/limits'
import { configurationList, modelList } from '../../../api/lists'
import { combined } from '../../../api/query'
import { ConfirmButton } from '../../../components/ConfirmButton'
import { Field } from '../../../components/Field'
import { ListTable } from '../../../components/ListTable'
import { NameField, nameProblem } from '../../../components/NameField'
import { Page } from '../../../components/Page'
import { Empty, ErrorNotice, Guard } from '../../../components/States'
import { when } from '../../../lib/format'
import '../../../styles/authoring.css'
import { createConfiguration, deleteConfiguration } from '../api/configurations'

const MAX_MODELS = ConfigurationInputRequest.ml_models.maxItems

export default function Configurations() {
  const client = useQueryClient()
  const loaded = useQueries({
    queries: [configurationList(), modelList()],
    combine: (results) =>
      combined(results, ([configurations, models]) => ({
        configurations: configurations.results,
        total: configurations.count,
        models: models.results,
      })),
  })
  const reload = () => void client.invalidateQueries({ queryKey: configurationList().queryKey })
  const [creating, setCreating] = useState(false)
  const [notice, setNotice] = useState('')

  return (
    <Page
      title="Configurations"
      actions={
        <button type="button" className="primary" aria-expanded={creating} aria-controls="new-configuration"
          onClick={() => setCreating((open) => !open)}>
          New configuration
        </button>
      }
    >
      <p role="status" className="help">{notice}</p>
      <Guard loaded={loaded} what="the configurations">
        {({ configurations, total, models }) => (
          <>
            {creating && (
              <NewConfiguration
                models={models}
                onCancel={() => setCreating(false)}
                onCreated={(configuration) => {
                  setCreating(false)
                  setNotice(`Configuration ${configuration.name} created.`)
                  reload()
                }}
              />
            )}
            {configurations.length === 0 ? (
              <Empty>
                <p>
                  No configurations yet. A configuration groups models to deploy together: use{' '}
                  <strong>New configuration</strong> above.
                </p>
              </Empty>
            ) : (
              <ConfigurationTable configurations={configurations} total={total} models={models} onDeleted={(name) => {
                setNotice(`Configuration ${name} deleted.`)
                reload()
              }} />
            )}
          </>
        )}
      </Guard>
    </Page>
  )
}

function ConfigurationTable({
  configurations,
  total,
  models,
  onDeleted,
}: {
  configurations: Configuration[]
  total: number
  models: Model[]
  onDeleted: (name: string) => void
}) {
  const names = new Map(models.map((model) => [model.id, model.name]))
  const [error, setError] = useState<{ name: string; error: ApiError } | null>(null)
  return (
    <>
      {error && (
        <ErrorNotice
          error={error.error.status === 409 ? `${error.name} is in use: ${error.error.message}` : error.error.message}
        />
      )}
      <ListTable
        label="Configurations"
        rows={configurations}
        rowKey={(configuration) => configuration.id}
        total={total}
        noun="configurations"
        columns={[
          { header: 'Name', cell: (configuration) => configuration.name },
          { header: 'Description', cell: (configuration) => configuration.description || '–' },
          {
            header: 'Models',
            cell: (configuration) => (
              <ul className="plain-list">
                {configuration.ml_models.map((id) => (
                  <li key={id}>
                    <Link href={`/models/${id}`}>{names.get(id) ?? `Model ${id}`}</Link>
                  </li>
                ))}
              </ul>
            ),
          },
          {
            header: 'Deployments',
            cell: (configuration) =>
              configuration.deployments.length === 0 ? (
                'none'
              ) : (
                <ul className="plain-list">
                  {configuration.deployments.map((id) => (
                    <li key={id}>
                      <Link href={`/deployments#deployment-${id}`}>#{id}</Link>
                    </li>
                  ))}
                </ul>
              ),
          },
          { header: 'Created', cell: (configuration) => when(configuration.created_at) },
          {
            header: 'Actions',
            cell: (configuration) => (
              <div className="actions">
                <Link href={`/deployments/new?configuration=${configuration.id}`} className="button">
                  Deploy
                </Link>
                <DeleteConfiguration
                  configuration={configuration}
                  onDeleted={() => {
                    setError(null)
                    onDeleted(configuration.name)
                  }}
                  onError={(failure) => setError({ name: configuration.name, error: failure })}
                />
              </div>
            ),
          },
        ]}
      />
    </>
  )
}

function DeleteConfiguration({
  configuration,
  onDeleted,
  onError,
}: {
  configuration: Configuration
  onDeleted: () => void
  onError: (error: ApiError) => void
}) {
  return (
    <ConfirmButton label="Delete" name={`Delete ${configuration.name}`} confirm="Yes, delete" busyText="Deleting…"
      group={`Confirm deleting ${configuration.name}`} run={() => deleteConfiguration(configuration.id).then(onDeleted)}
      onError={onError} />
  )
}

function NewConfiguration({
  models,
  onCreated,
  onCancel,
}: {
  models: Model[]
  onCreated: (configuration: Configuration) => void
  onCancel: () => void
}) {
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [chosen, setChosen] = useState<number[]>([])
  const [touched, setTouched] = useState({ name: false, models: false })
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | null>(null)

  const invalidName = nameProblem(name, 'configuration')
  const modelsProblem = chosen.length === 0 ? 'Choose at least one model.' : chosen.length > MAX_MODELS ? `At most ${MAX_MODELS} models.` : ''

  function toggle(id: number, on: boolean) {
    setTouched((was) => ({ ...was, models: true }))
    setChosen((ids) => (on ? [...ids, id] : ids.filter((other) => other !== id)))
  }

  async function submit(event: FormEvent) {
    event.preventDefault()
    setTouched({ name: true, models: true })
    if (invalidName || modelsProblem) return
    setBusy(true)
    setError(null)
    try {
      onCreated(await createConfiguration({ name, description, ml_models: chosen }))
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, {}))
    } finally {
      setBusy(false)
    }
  }

  const modelErrors = [...(touched.models && modelsProblem ? [modelsProblem] : []), ...(error?.field('ml_models') ?? [])]
  const general = error && !error.field('name').length && !error.field('description').length && !error.field('ml_models').length
  return (
    <form id="new-configuration" className="card authoring-form" onSubmit={submit} noValidate aria-labelledby="new-configuration-title">
      <h2 id="new-configuration-title">New configuration</h2>
      {general && <ErrorNotice error={error} />}
      <div className="authoring-columns">
        <NameField value={name} what="configuration" touched={touched.name} serverErrors={error?.field('name')}
          autoFocus onChange={(value) => {
            setName(value)
            setTouched((was) => ({ ...was, name: true }))
          }} />
        <Field label="Description" errors={error?.field('description')}>
          {(props) => <input {...props} value={description} onChange={(event) => setDescription(event.target.value)} />}
        </Field>
      </div>
      <fieldset aria-describedby={modelErrors.length ? 'models-errors' : undefined}>
        <legend>Models</legend>
        {models.length === 0 ? (
          <p>
            You have no models yet: <Link href="/models/new">create one</Link> first.
          </p>
        ) : (
          <div className="options">
            {models.map((model) => (
              <label key={model.id}>
                <input type="checkbox" checked={chosen.includes(model.id)} disabled={model.status !== 'ready'}
                  onChange={(event) => toggle(model.id, event.target.checked)} />
                {model.name}
                {model.status !== 'ready' && (
                  <small className="help"> ({model.status === 'building' ? 'being built' : 'its build failed'})</small>
                )}
              </label>
            ))}
          </div>
        )}
        {modelErrors.length > 0 && (
          <ul id="models-errors" className="field-errors">
            {modelErrors.map((message) => (
              <li key={message}>{message}</li>
            ))}
          </ul>
        )}
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Create configuration
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  )
}

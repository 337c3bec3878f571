/**
 * The user's models: name, build state, size, input and output shapes; each opens in the editor.
 * Refreshed while one of them is being built, so its outcome shows without a reload.
 */
import { useEffect, useState } from 'react'
import { Link } from 'wouter'
import { api, call } from '../api/client'
import { BuildStatus, buildTiming, isBuilding, shape } from '../components/ModelSummary'
import { Page } from '../components/Page'
import { Guard } from '../components/States'
import { integer, when } from '../format'
import { useApi } from '../hooks'

const LIST_LIMIT = 500

export default function Models() {
  const [polling, setPolling] = useState(false)
  const loaded = useApi(
    () => call(api.GET('/api/models/', { params: { query: { limit: LIST_LIMIT } } })),
    [],
    polling ? buildTiming.pollMs : undefined,
  )
  useEffect(() => setPolling(Boolean(loaded.data?.results.some(isBuilding))), [loaded.data])
  return (
    <Page
      title="Models"
      actions={
        <Link href="/models/new" className="button primary">
          New model
        </Link>
      }
    >
      <Guard
        loaded={loaded}
        what="the models"
        empty={(page) => page.results.length === 0}
        emptyText={
          <p>
            No models yet. <Link href="/models/new">Write your first model</Link> in the editor: Keras source, built
            and checked by the platform.
          </p>
        }
      >
        {(page) => (
          <>
            <div className="table-wrap">
              <table aria-label="Models">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Description</th>
                    <th scope="col">Build</th>
                    <th scope="col" className="num">Parameters</th>
                    <th scope="col">Input shape</th>
                    <th scope="col">Output shape</th>
                    <th scope="col">Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {page.results.map((model) => (
                    <tr key={model.id}>
                      <td>
                        <Link href={`/models/${model.id}`}>{model.name}</Link>
                      </td>
                      <td>{model.description || '–'}</td>
                      <td>
                        <BuildStatus model={model} />
                      </td>
                      <td className="num">{integer(model.parameters)}</td>
                      <td className="mono">{shape(model.input_shape)}</td>
                      <td className="mono">{shape(model.output_shape)}</td>
                      <td>{when(model.updated_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {page.count > page.results.length && (
              <p className="help">
                Showing the first {page.results.length} of {page.count} models.
              </p>
            )}
          </>
        )}
      </Guard>
    </Page>
  )
}

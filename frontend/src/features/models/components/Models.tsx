/**
 * The user's models: name, build state, size, input and output shapes; each opens in the editor.
 * Refreshed while one of them is being built, so its outcome shows without a reload.
 */
import { useQuery } from '@tanstack/react-query'
import { Link } from 'wouter'
import type { Model } from '../../../api/client'
import { modelList } from '../../../api/lists'
import { ListTable, type Column } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { Guard } from '../../../components/States'
import { integer, when } from '../../../lib/format'
import { BuildStatus, buildTiming, isBuilding, shape } from './ModelSummary'

const COLUMNS: Column<Model>[] = [
  { header: 'Name', cell: (model) => <Link href={`/models/${model.id}`}>{model.name}</Link> },
  { header: 'Description', cell: (model) => model.description || '–' },
  { header: 'Build', cell: (model) => <BuildStatus model={model} /> },
  { header: 'Parameters', num: true, cell: (model) => integer(model.parameters) },
  { header: 'Input shape', mono: true, cell: (model) => shape(model.input_shape) },
  { header: 'Output shape', mono: true, cell: (model) => shape(model.output_shape) },
  { header: 'Updated', cell: (model) => when(model.updated_at) },
]

export default function Models() {
  const loaded = useQuery({
    ...modelList(),
    refetchInterval: (query) => (query.state.data?.results.some(isBuilding) ? buildTiming.pollMs : false),
  })
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
          <ListTable label="Models" columns={COLUMNS} rows={page.results} rowKey={(model) => model.id}
            total={page.count} noun="models" />
        )}
      </Guard>
    </Page>
  )
}

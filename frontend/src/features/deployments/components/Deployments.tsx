/**
 * Deployments: each launch of a configuration, with a summary of its training settings (strategy
 * and parameters, rounds, rewards, clients) and links to the trainings it started.
 */
import { useQueries } from '@tanstack/react-query'
import { Link } from 'wouter'
import type { Deployment, DeploymentInput, Result } from '../../../api/client'
import { configurationList } from '../../../api/lists'
import { combined } from '../../../api/query'
import { ListTable } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { Guard } from '../../../components/States'
import { integer, short, when } from '../../../lib/format'
import '../../../styles/authoring.css'
import { datasourceList, deploymentList, resultList } from '../api/deployments'

type Settings = Partial<Omit<DeploymentInput, 'configuration' | 'validation_datasource' | 'clients'>>

function settingsOf(deployment: Deployment): Settings {
  return deployment.settings && typeof deployment.settings === 'object' ? (deployment.settings as Settings) : {}
}

function clientsOf(deployment: Deployment): [string, number][] {
  const clients = deployment.clients
  return clients && typeof clients === 'object' ? Object.entries(clients as Record<string, number>) : []
}

function plural(count: number | undefined, word: string): string {
  return count === undefined ? `? ${word}s` : `${integer(count)} ${word}${count === 1 ? '' : 's'}`
}

/** `fedasync (alpha 0.9, staleness polynomial)`: the strategy with the parameters set explicitly. */
function strategyText(settings: Settings): string {
  const params = Object.entries(settings.strategy_params ?? {})
  const shown = params.map(([name, value]) => `${name} ${String(value)}`).join(', ')
  return `${settings.strategy ?? '?'}${shown ? ` (${shown})` : ' (defaults)'}`
}

function SettingsSummary({ settings }: { settings: Settings }) {
  const json = (value: Record<string, unknown> | undefined) =>
    value && Object.keys(value).length ? JSON.stringify(value) : ''
  return (
    <ul className="settings-summary">
      <li>Strategy: {strategyText(settings)}</li>
      <li>
        {plural(settings.rounds, 'round')}, {plural(settings.epochs, 'epoch')} each, batch {settings.batch ?? '?'}
      </li>
      <li>
        Rewards: {settings.reward_policy ?? '?'}, base {settings.reward_base ?? '?'} tokens, budget{' '}
        {settings.reward_budget ? `${settings.reward_budget} tokens` : 'base × rounds'}; reject ratio{' '}
        {settings.reject_ratio ?? '?'}; {settings.sample_weighting ?? '?'} weighting
      </li>
      {(settings.min_data ?? 0) > 0 && <li>Minimum data: {integer(settings.min_data)}</li>}
      {json(settings.data_restriction) && <li>Data restriction: <code>{json(settings.data_restriction)}</code></li>}
      {json(settings.fit_kwargs) && <li>Fit arguments: <code>{json(settings.fit_kwargs)}</code></li>}
      {json(settings.val_kwargs) && <li>Validation arguments: <code>{json(settings.val_kwargs)}</code></li>}
    </ul>
  )
}

function Clients({ clients }: { clients: [string, number][] }) {
  if (clients.length === 0) return <>none</>
  return (
    <ul className="plain-list">
      {clients.map(([identity, ceiling]) => (
        <li key={identity}>
          <span className="mono" title={identity}>{short(identity)}</span>{' '}
          <span className="help">≤ {integer(ceiling)} samples</span>
        </li>
      ))}
    </ul>
  )
}

function Trainings({ ids, results }: { ids: number[]; results: Map<number, Result> }) {
  if (ids.length === 0) return <>none</>
  return (
    <ul className="plain-list">
      {ids.map((id) => {
        const result = results.get(id)
        return (
          <li key={id}>
            <Link href={`/trainings/${id}`}>{result ? `${result.model_name} (training ${id})` : `Training ${id}`}</Link>
            {result?.status && <> <span className={`badge ${result.status}`}>{result.status}</span></>}
          </li>
        )
      })}
    </ul>
  )
}

export default function Deployments() {
  const loaded = useQueries({
    queries: [deploymentList(), configurationList(), datasourceList(), resultList()],
    combine: (results) =>
      combined(results, ([deployments, configurations, datasources, trainings]) => ({
        deployments: deployments.results,
        count: deployments.count,
        configurations: new Map(configurations.results.map((item) => [item.id, item.name])),
        datasources: new Map(datasources.results.map((item) => [item.id, item.datasource_id])),
        results: new Map(trainings.results.map((item) => [item.id, item])),
      })),
  })
  return (
    <Page
      title="Deployments"
      actions={
        <Link href="/deployments/new" className="button primary">
          New deployment
        </Link>
      }
    >
      <Guard
        loaded={loaded}
        what="the deployments"
        empty={(data) => data.deployments.length === 0}
        emptyText={
          <p>
            Nothing deployed yet. Deploy a configuration from the <Link href="/configurations">configurations</Link>{' '}
            page, or start a <Link href="/deployments/new">new deployment</Link>.
          </p>
        }
      >
        {(data) => (
          <ListTable
            label="Deployments"
            rows={data.deployments}
            rowKey={(deployment) => deployment.id}
            rowId={(deployment) => `deployment-${deployment.id}`}
            total={data.count}
            noun="deployments"
            columns={[
              { header: 'Deployment', rowHeader: true, cell: (deployment) => `#${deployment.id}` },
              {
                header: 'Configuration',
                cell: (deployment) => data.configurations.get(deployment.configuration) ?? `#${deployment.configuration}`,
              },
              { header: 'Kind', cell: (deployment) => <span className="badge">{deployment.kind === 'federated' ? `federated · ${deployment.coordination}` : deployment.kind}</span> },
              { header: 'Settings', cell: (deployment) => <SettingsSummary settings={settingsOf(deployment)} /> },
              {
                header: 'Validation data',
                cell: (deployment) =>
                  data.datasources.get(deployment.validation_datasource) ?? `#${deployment.validation_datasource}`,
              },
              { header: 'Clients', cell: (deployment) => <Clients clients={clientsOf(deployment)} /> },
              { header: 'Trainings', cell: (deployment) => <Trainings ids={deployment.results} results={data.results} /> },
              { header: 'Created', cell: (deployment) => when(deployment.created_at) },
            ]}
          />
        )}
      </Guard>
    </Page>
  )
}

/**
 * The trainings (training results) of the user: one row each with its model, status, mode and
 * rounds, filtered by status (and by deployment with `?deployment=N`), fifty a page; refreshed
 * every few seconds while one of them is still running.
 */
import { useEffect, useId, useState } from 'react'
import { Link, useSearch } from 'wouter'
import { api, call, type Result } from '../api/client'
import { Page } from '../components/Page'
import { Pager } from '../components/Pager'
import { TableWrap } from '../components/TableWrap'
import { Guard } from '../components/States'
import { integer, when } from '../format'
import { useApi } from '../hooks'
import { isActive, isBlockchain, timing } from '../training'
import './results.css'

const PAGE_SIZE = 50
const STATUSES = ['created', 'running', 'finished', 'failed', 'stopped'] as const
type Status = (typeof STATUSES)[number]

export default function Trainings() {
  const search = new URLSearchParams(useSearch())
  const deploymentParam = Number(search.get('deployment'))
  const deployment = Number.isInteger(deploymentParam) && deploymentParam > 0 ? deploymentParam : undefined
  const [status, setStatus] = useState<Status | ''>('')
  const [page, setPage] = useState(0)
  const [polling, setPolling] = useState(false)
  const statusId = useId()

  const list = useApi(
    () =>
      call(
        api.GET('/api/results/', {
          params: { query: { limit: PAGE_SIZE, offset: page * PAGE_SIZE, ...(status ? { status } : {}), ...(deployment ? { deployment } : {}) } },
        }),
      ),
    [page, status, deployment],
    polling ? timing.listMs : undefined,
  )
  useEffect(() => setPolling(Boolean(list.data?.results.some((result) => isActive(result.status)))), [list.data])
  const pages = list.data ? Math.max(1, Math.ceil(list.data.count / PAGE_SIZE)) : 1

  return (
    <Page
      title="Trainings"
      actions={
        <Link href="/configurations" className="button">
          Deploy a configuration
        </Link>
      }
    >
      <div className="toolbar">
        <div className="field">
          <label htmlFor={statusId}>Status</label>
          <select
            id={statusId}
            value={status}
            onChange={(event) => {
              setStatus(event.target.value as Status | '')
              setPage(0)
            }}
          >
            <option value="">All</option>
            {STATUSES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </div>
        {deployment && (
          <p>
            Deployment {deployment} only. <Link href="/trainings">Show all</Link>
          </p>
        )}
        {list.data && <p className="muted">{integer(list.data.count)} trainings</p>}
      </div>
      <Guard
        loaded={list}
        what="the trainings"
        empty={(data) => data.results.length === 0}
        emptyText={
          status || deployment ? (
            <p>No training matches this filter.</p>
          ) : (
            <p>
              No training yet. <Link href="/configurations">Deploy a configuration</Link> to start one.
            </p>
          )
        }
      >
        {(data) => (
          <>
            <TrainingTable results={data.results} />
            <Pager page={page} pages={pages} onPage={setPage} label="Trainings pages" />
          </>
        )}
      </Guard>
    </Page>
  )
}

function TrainingTable({ results }: { results: Result[] }) {
  return (
    <TableWrap label="Trainings">
      <table>
        <caption className="sr-only">Trainings, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Training</th>
            <th scope="col">Status</th>
            <th scope="col">Coordination</th>
            <th scope="col" className="num">Rounds</th>
            <th scope="col">Created</th>
            <th scope="col">Finished</th>
            <th scope="col" className="num">Deployment</th>
          </tr>
        </thead>
        <tbody>
          {results.map((result) => (
            <tr key={result.id}>
              <th scope="row">
                <Link href={`/trainings/${result.id}`}>{result.model_name || `Training ${result.id}`}</Link>
                <div className="muted">Training {result.id}</div>
              </th>
              <td>
                <span className={`badge ${result.status ?? ''}`}>{result.status}</span>
                {result.status === 'failed' && result.error && <div className="muted">{result.error}</div>}
              </td>
              <td>{isBlockchain(result) ? 'blockchain' : 'classic'}</td>
              <td className="num">{integer(result.rounds_done)}</td>
              <td>{when(result.created_at)}</td>
              <td>{when(result.finished_at)}</td>
              <td className="num">{result.deployment}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}

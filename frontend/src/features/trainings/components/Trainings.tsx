/**
 * The trainings (training results) of the user: one row each with its model, status, mode and
 * rounds, filtered by status (and by deployment with `?deployment=N`), fifty a page; refreshed
 * every few seconds while one of them is still running.
 */
import { useQuery } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { Link, useSearch } from 'wouter'
import type { Result } from '../../../api/client'
import { ListTable, type Column } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { Pager } from '../../../components/Pager'
import { Guard } from '../../../components/States'
import { integer, when } from '../../../lib/format'
import '../../../styles/results.css'
import { resultPage, STATUSES, type Status } from '../api/results'
import { isActive, isBlockchain, timing } from '../lib/training'

const PAGE_SIZE = 50

const COLUMNS: Column<Result>[] = [
  {
    header: 'Training',
    rowHeader: true,
    cell: (result) => (
      <>
        <Link href={`/trainings/${result.id}`}>{result.model_name || `Training ${result.id}`}</Link>
        <div className="muted">Training {result.id}</div>
      </>
    ),
  },
  {
    header: 'Status',
    cell: (result) => (
      <>
        <span className={`badge ${result.status ?? ''}`}>{result.status}</span>
        {result.status === 'failed' && result.error && <div className="muted">{result.error}</div>}
      </>
    ),
  },
  { header: 'Coordination', cell: (result) => (isBlockchain(result) ? 'blockchain' : 'classic') },
  { header: 'Rounds', num: true, cell: (result) => integer(result.rounds_done) },
  { header: 'Created', cell: (result) => when(result.created_at) },
  { header: 'Finished', cell: (result) => when(result.finished_at) },
  { header: 'Deployment', num: true, cell: (result) => result.deployment },
]

export default function Trainings() {
  const search = new URLSearchParams(useSearch())
  const deploymentParam = Number(search.get('deployment'))
  const deployment = Number.isInteger(deploymentParam) && deploymentParam > 0 ? deploymentParam : undefined
  const [status, setStatus] = useState<Status | ''>('')
  const [page, setPage] = useState(0)
  const statusId = useId()

  const list = useQuery({
    ...resultPage(PAGE_SIZE, page * PAGE_SIZE, status, deployment),
    refetchInterval: ({ state }) => (state.data?.results.some((result) => isActive(result.status)) ? timing.listMs : false),
  })
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
            <ListTable label="Trainings" caption="Trainings, newest first" columns={COLUMNS} rows={data.results}
              rowKey={(result) => result.id} />
            <Pager page={page} pages={pages} onPage={setPage} label="Trainings pages" />
          </>
        )}
      </Guard>
    </Page>
  )
}

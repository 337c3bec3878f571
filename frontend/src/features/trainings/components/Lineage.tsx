/**
 * Lineage and audit of a training: for each global version its content hash, the Kafka records
 * holding its weights, the updates it was built from and the transaction that recorded it; and
 * **Verify**, which starts the recompute audit (a job re-deriving every version from the chain's
 * record and Kafka's payloads), follows it until it ends and shows its verdict version by version.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useMemo, useRef, useState, type ReactNode } from 'react'
import { Link } from 'wouter'
import { ApiError, type Audit, type Result, type Round } from '../../../api/client'
import { Hash } from '../../../components/Hash'
import { Page } from '../../../components/Page'
import { Pager } from '../../../components/Pager'
import { Empty, ErrorNotice, Loading } from '../../../components/States'
import { TableWrap } from '../../../components/TableWrap'
import { when } from '../../../lib/format'
import '../../../styles/results.css'
import { auditsQuery, resultQuery, startAudit } from '../api/results'
import { roundsQuery } from '../api/rounds'
import {
  auditChecks,
  auditVerdict,
  explorerBase,
  isActive,
  isBlockchain,
  newestAudit,
  pageOf,
  pointerText,
  timing,
  transactionUrl,
  type AuditCheck,
} from '../lib/training'
import { TrainingRoute } from './TrainingRoute'

const VERSIONS_PER_PAGE = 25

export default function Lineage() {
  return <TrainingRoute view={LineageView} />
}

function LineageView({ id }: { id: number }) {
  const result = useQuery({
    ...resultQuery(id),
    refetchInterval: ({ state }) => (isActive(state.data?.status) ? timing.resultMs : false),
  })
  const live = isActive(result.data?.status)
  const { data: rounds, error: roundsError, refetch: refetchRounds } = useQuery({
    ...roundsQuery(id),
    refetchInterval: live ? timing.roundsMs : false,
  })

  // The versions published just before the training ended: asked for once more when it ends.
  const wasLive = useRef(false)
  useEffect(() => {
    if (wasLive.current && !live) void refetchRounds()
    wasLive.current = live
  }, [live, refetchRounds])

  if (result.error && !result.data) {
    return (
      <Page title={`Lineage of training ${id}`}>
        <ErrorNotice error={result.error} retry={() => void result.refetch()} />
      </Page>
    )
  }
  if (!result.data) return <Loading what="the training" />
  const explorer = explorerBase(result.data.explorer_url)
  return (
    <Page
      title={`Lineage of ${result.data.model_name} · training ${id}`}
      actions={
        <Link href={`/trainings/${id}`} className="button">
          Back to the training
        </Link>
      }
    >
      <p>
        Each global version is identified by the SHA-256 of its weights; its weights are the Kafka records shown, and
        it was aggregated from the updates listed (each by its own hash).
        {isBlockchain(result.data) ? ' The training’s contract recorded all of it; Verify recomputes every version from that record.' : ''}
      </p>
      {roundsError && rounds === undefined ? (
        <ErrorNotice error={roundsError} retry={() => void refetchRounds()} />
      ) : rounds === undefined ? (
        <Loading what="the versions" />
      ) : (
        <VerifyPanel result={result.data} rounds={rounds}>
          {(audit) => <VersionTable rounds={rounds} audit={audit} explorer={explorer} />}
        </VerifyPanel>
      )}
    </Page>
  )
}

/** The Verify button, the verdict (a live region) and the table, which shows the audit's checks. */
function VerifyPanel({
  result,
  rounds,
  children,
}: {
  result: Result
  rounds: Round[]
  children: (audit: Audit | undefined) => ReactNode
}) {
  const client = useQueryClient()
  const [startError, setStartError] = useState<ApiError | null>(null)
  const [starting, setStarting] = useState(false)
  const query = auditsQuery(result.id)
  const audits = useQuery({
    ...query,
    refetchInterval: ({ state }) => (newestAudit(state.data)?.status === 'running' ? timing.auditMs : false),
  })
  const audit = useMemo(() => newestAudit(audits.data), [audits.data])
  const verdict = audits.isPending ? { state: 'none', text: 'Looking for earlier audits…', detail: '' } : auditVerdict(audit)
  const blockchain = isBlockchain(result)

  async function verify() {
    setStarting(true)
    setStartError(null)
    try {
      const started = await startAudit(result.id)
      client.setQueryData(query.queryKey, (known) => [...(known ?? []), started])
    } catch (failure) {
      setStartError(failure instanceof ApiError ? failure : new ApiError(0, {}))
    } finally {
      setStarting(false)
    }
  }

  return (
    <>
      <section className="block" aria-labelledby="audit-title">
        <h2 id="audit-title">Audit</h2>
        <div className="toolbar">
          <button
            type="button"
            className="primary"
            onClick={() => void verify()}
            disabled={!blockchain || starting || verdict.state === 'running' || !rounds.length}
            aria-describedby="verify-help"
          >
            {starting ? 'Starting…' : 'Verify'}
          </button>
          <small id="verify-help" className="help">
            {blockchain
              ? 'Recompute every global version from the updates the chain recorded, fetched from Kafka, and compare hashes.'
              : 'Only a blockchain training can be verified: a classic one has no on-chain record to check against.'}
          </small>
        </div>
        {startError && <ErrorNotice error={startError} />}
        {audits.error && !audits.data && <ErrorNotice error={audits.error} retry={() => void audits.refetch()} />}
        <div className={`verdict ${verdict.state}`} role="status" aria-live="polite">
          <strong>{verdict.text}</strong>
          {verdict.detail && <span>{verdict.detail}</span>}
          {audit && audit.status !== 'running' && <span className="muted"> Audit {audit.id}, {when(audit.finished_at)}.</span>}
        </div>
      </section>
      <section className="block" aria-labelledby="versions-title">
        <h2 id="versions-title">Global versions</h2>
        {children(audit)}
      </section>
    </>
  )
}

function VersionTable({ rounds, audit, explorer }: { rounds: Round[]; audit: Audit | undefined; explorer: string | null }) {
  const [page, setPage] = useState(0)
  const checks = useMemo(() => auditChecks(audit), [audit])
  const done = audit !== undefined && audit.status !== 'running'
  if (!rounds.length) return <Empty>No global version has been published yet.</Empty>
  const shown = pageOf(rounds, page, VERSIONS_PER_PAGE)
  return (
    <>
      <TableWrap label="Global versions">
        <table>
          <caption className="sr-only">Lineage of each global version, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Hash (SHA-256)</th>
              <th scope="col">Kafka pointer</th>
              <th scope="col">Built from</th>
              <th scope="col">Transaction</th>
              <th scope="col">Audit</th>
            </tr>
          </thead>
          <tbody>
            {shown.rows.map((round) => (
              <tr key={round.version}>
                <th scope="row">v{round.version}</th>
                <td><Hash value={round.sha256} /></td>
                <td><code className="pointer">{pointerText(round.pointer)}</code></td>
                <td><Updates round={round} /></td>
                <td>
                  {round.transaction ? (
                    <Hash value={round.transaction.hash} href={transactionUrl(explorer, round.transaction.hash)} />
                  ) : (
                    '–'
                  )}
                </td>
                <td><CheckCell check={checks.get(round.version)} done={done} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager page={shown.page} pages={shown.pages} onPage={setPage} label="Versions pages" />
    </>
  )
}

function Updates({ round }: { round: Round }) {
  if (!round.contributions.length) return <span className="muted">no update</span>
  return (
    <ul className="updates-list">
      {round.contributions.map((update, index) => (
        <li key={`${update.sha256}-${index}`}>
          <Hash value={update.sha256} keep={6} /> from <Hash value={update.client} keep={4} />
          {update.base_version !== undefined && <> on v{update.base_version}</>}{' '}
          <span className={`badge ${update.accepted ? 'accepted' : 'rejected'}`}>{update.accepted ? 'accepted' : 'rejected'}</span>
          {!update.accepted && update.reason && <span className="muted"> {update.reason}</span>}
        </li>
      ))}
    </ul>
  )
}

function CheckCell({ check, done }: { check: AuditCheck | undefined; done: boolean }) {
  if (!check) return <span className="muted">{done ? 'not checked' : '–'}</span>
  return check.ok ? (
    <span className="badge passed">identical</span>
  ) : (
    <>
      <span className="badge failed">mismatch</span>
      {check.problem && <div className="muted">{check.problem}</div>}
    </>
  )
}

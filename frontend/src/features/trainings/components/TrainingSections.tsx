/**
 * The sections of the training page, one component each: validation, updates per client, tokens,
 * transactions and elapsed time. Each takes already-derived data (memoized by the page) and puts
 * a chart next to its text alternative (a caption and a table with the same numbers). Long tables
 * are shown a page at a time so that a long training does not flood the DOM.
 */
import { useId, useMemo, useState } from 'react'
import type { Round } from '../../../api/client'
import { Hash } from '../../../components/Hash'
import { Pager } from '../../../components/Pager'
import { TableWrap } from '../../../components/TableWrap'
import { Empty } from '../../../components/States'
import { integer, percent, seconds, tokens, when } from '../../../lib/format'
import {
  chartSeries,
  clientStats,
  elapsedSummary,
  epsilonText,
  pageOf,
  pageUpdateRows,
  privacySummary,
  timelinePoints,
  tokenSummary,
  transactionUrl,
  updateRows,
  validationSummary,
  type TokenRow,
  type TransactionRow,
} from '../lib/training'
import { ElapsedChart, TimelineChart, TokenChart, ValidationChart } from './TrainingCharts'

const ROUNDS_PER_PAGE = 50
const UPDATES_PER_PAGE = 24
const TRANSACTIONS_PER_PAGE = 25

function Section({ title, children }: { title: string; children: React.ReactNode }) {
  const id = useId()
  return (
    <section className="block" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  )
}

function NoRounds() {
  return <Empty>No round has been reported yet. Rounds appear here as the aggregator publishes them.</Empty>
}

/**
 * Accuracy and loss per global version, and the rounds table (also the charts' text alternative);
 * a training that is not federated has no updates to count (its versions are epochs and increments).
 */
export function ValidationSection({ rounds, federated = true }: { rounds: Round[]; federated?: boolean }) {
  const points = useMemo(() => chartSeries(rounds), [rounds])
  const summary = useMemo(() => validationSummary(rounds), [rounds])
  const privacy = useMemo(() => privacySummary(rounds), [rounds])
  const [page, setPage] = useState(0)
  const newestFirst = useMemo(() => [...rounds].reverse(), [rounds])
  const shown = pageOf(newestFirst, page, ROUNDS_PER_PAGE)
  return (
    <Section title="Validation">
      {rounds.length === 0 ? (
        federated ? <NoRounds /> : <Empty>No epoch has been reported yet: each epoch&apos;s validation appears here as the training reports it.</Empty>
      ) : (
        <>
          <figure className="figure card">
            <ValidationChart points={points} />
            <figcaption>{summary}</figcaption>
          </figure>
          {privacy && <p className="privacy">{privacy}</p>}
          <h3 className="sr-only">Rounds</h3>
          <TableWrap label="Rounds">
            <table>
              <caption className="sr-only">Rounds, newest first: validation metrics, time and updates per global version</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col" className="num">Accuracy</th>
                  <th scope="col" className="num">Loss</th>
                  <th scope="col" className="num">Since start</th>
                  {federated && <th scope="col" className="num">Updates accepted</th>}
                  {federated && <th scope="col" className="num">Rejected</th>}
                  {privacy && <th scope="col" className="num">Privacy ε</th>}
                  <th scope="col">Received</th>
                </tr>
              </thead>
              <tbody>
                {shown.rows.map((round) => {
                  const accepted = round.contributions.filter((update) => update.accepted).length
                  return (
                    <tr key={round.version}>
                      <th scope="row">v{round.version}</th>
                      <td className="num">{percent(round.val_accuracy)}</td>
                      <td className="num">{round.val_loss === null || round.val_loss === undefined ? '–' : round.val_loss.toFixed(4)}</td>
                      <td className="num">{seconds(round.elapsed_s)}</td>
                      {federated && <td className="num">{accepted}</td>}
                      {federated && <td className="num">{round.contributions.length - accepted}</td>}
                      {privacy && <td className="num">{epsilonText(round.privacy)}</td>}
                      <td>{when(round.received_at)}</td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={shown.page} pages={shown.pages} onPage={setPage} label="Rounds pages" />
        </>
      )}
    </Section>
  )
}

/** Which client sent which update when: a timeline per client, totals per client, and the updates round by round. */
export function UpdatesSection({ rounds }: { rounds: Round[] }) {
  const stats = useMemo(() => clientStats(rounds), [rounds])
  const clients = useMemo(() => stats.map((entry) => entry.client), [stats])
  const points = useMemo(() => timelinePoints(rounds, clients), [rounds, clients])
  const totals = stats.reduce((sum, entry) => ({ accepted: sum.accepted + entry.accepted, rejected: sum.rejected + entry.rejected }), { accepted: 0, rejected: 0 })
  return (
    <Section title="Updates">
      {points.length === 0 ? (
        <NoRounds />
      ) : (
        <>
          <figure className="figure card">
            <TimelineChart points={points} clients={clients} />
            <figcaption>
              Timeline of the updates: one lane per client, one mark per update in the round that screened it.{' '}
              {points.length} updates from {clients.length} clients: {totals.accepted} accepted, {totals.rejected} rejected.
            </figcaption>
          </figure>
          <h3>Per client</h3>
          <TableWrap label="Updates per client">
            <table>
              <thead>
                <tr>
                  <th scope="col">Client</th>
                  <th scope="col" className="num">Updates</th>
                  <th scope="col" className="num">Accepted</th>
                  <th scope="col" className="num">Rejected</th>
                  <th scope="col" className="num">Mean staleness</th>
                  <th scope="col" className="num">Max staleness</th>
                  <th scope="col">Rejection reasons</th>
                </tr>
              </thead>
              <tbody>
                {stats.map((entry) => (
                  <tr key={entry.client}>
                    <th scope="row"><Hash value={entry.client} keep={6} /></th>
                    <td className="num">{entry.updates}</td>
                    <td className="num">{entry.accepted}</td>
                    <td className="num">{entry.rejected}</td>
                    <td className="num">{entry.meanStaleness.toFixed(1)}</td>
                    <td className="num">{entry.maxStaleness}</td>
                    <td>
                      {Object.entries(entry.reasons)
                        .map(([reason, count]) => `${reason} (${count})`)
                        .join('; ') || '–'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <UpdateTable rounds={rounds} clients={clients} />
        </>
      )}
    </Section>
  )
}

function UpdateTable({ rounds, clients }: { rounds: Round[]; clients: string[] }) {
  const [client, setClient] = useState('')
  const [page, setPage] = useState(0)
  const rows = useMemo(() => updateRows(rounds, client), [rounds, client])
  const shown = pageUpdateRows(rows, page, UPDATES_PER_PAGE)
  const selectId = useId()
  return (
    <>
      <h3>Round by round</h3>
      <div className="toolbar">
        <div className="field">
          <label htmlFor={selectId}>Client</label>
          <select
            id={selectId}
            value={client}
            onChange={(event) => {
              setClient(event.target.value)
              setPage(0)
            }}
          >
            <option value="">All clients</option>
            {clients.map((identity) => (
              <option key={identity} value={identity}>
                {identity}
              </option>
            ))}
          </select>
        </div>
        <p className="muted" aria-live="polite">{rows.length} updates</p>
      </div>
      <TableWrap label="Updates per round">
        <table>
          <caption className="sr-only">Updates per round, newest round first</caption>
          <thead>
            <tr>
              <th scope="col">Round</th>
              <th scope="col">Client</th>
              <th scope="col" className="num">Base version</th>
              <th scope="col" className="num">Staleness</th>
              <th scope="col" className="num">Samples</th>
              <th scope="col">Result</th>
              <th scope="col">Reason</th>
              <th scope="col" className="num">Reward</th>
            </tr>
          </thead>
          <tbody>
            {shown.rows.map((row, index) => (
              <tr key={`${row.version}-${row.client}-${row.sha256}-${index}`}>
                {row.first && (
                  <th scope="rowgroup" rowSpan={row.span}>
                    v{row.version}
                  </th>
                )}
                <td><Hash value={row.client} keep={6} /></td>
                <td className="num">{row.base_version === undefined ? '–' : `v${row.base_version}`}</td>
                <td className="num">{row.staleness}</td>
                <td className="num">{integer(row.samples)}</td>
                <td>
                  <span className={`badge ${row.accepted ? 'accepted' : 'rejected'}`}>{row.accepted ? 'accepted' : 'rejected'}</span>
                </td>
                <td>{row.reason || '–'}</td>
                <td className="num">{tokens(row.reward)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
      <Pager page={shown.page} pages={shown.pages} onPage={setPage} label="Updates pages" />
    </>
  )
}

/** Tokens per client (the paper's token-distribution figure) and the exact amounts. */
export function TokensSection({ rows, source, chainProblem }: { rows: TokenRow[]; source: 'chain' | 'rounds'; chainProblem: string | null }) {
  const summary = useMemo(() => tokenSummary(rows), [rows])
  const fromChain = source === 'chain'
  return (
    <Section title="Tokens">
      {chainProblem && (
        <p className="notice">
          {chainProblem} The amounts below are the rewards the rounds report; the contract's balances are not shown.
        </p>
      )}
      {rows.length === 0 ? (
        <Empty>No client has taken part yet.</Empty>
      ) : (
        <>
          <figure className="figure card">
            <TokenChart rows={rows} paid={fromChain} />
            <figcaption>
              {summary} {fromChain ? 'As the training’s contract records them now.' : 'Summed from the rewards the rounds report.'}
            </figcaption>
          </figure>
          <TableWrap label="Tokens per client">
            <table>
              <caption className="sr-only">Tokens per client</caption>
              <thead>
                <tr>
                  <th scope="col">Client</th>
                  {fromChain && <th scope="col" className="num">Sample ceiling</th>}
                  <th scope="col" className="num">Earned</th>
                  {fromChain && <th scope="col" className="num">Paid</th>}
                  {fromChain && <th scope="col" className="num">Balance</th>}
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.client}>
                    <th scope="row"><Hash value={row.client} keep={6} /></th>
                    {fromChain && <td className="num">{integer(row.ceiling)}</td>}
                    <td className="num">{tokens(row.earned)}</td>
                    {fromChain && <td className="num">{tokens(row.paid)}</td>}
                    {fromChain && <td className="num">{tokens(row.balance)}</td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </>
      )}
    </Section>
  )
}

/** The transactions that recorded each version (blockchain mode), with explorer links when one is configured. */
export function TransactionsSection({ rows, gas, explorer }: { rows: TransactionRow[]; gas: number; explorer: string | null }) {
  const [page, setPage] = useState(0)
  const shown = pageOf(rows, page, TRANSACTIONS_PER_PAGE)
  return (
    <Section title="Transactions">
      {rows.length === 0 ? (
        <Empty>No version has been recorded on chain yet.</Empty>
      ) : (
        <>
          <p>
            {rows.length} transactions, {integer(gas)} gas in total.
            {!explorer && <span className="muted"> No block explorer is configured, so the hashes are not links.</span>}
          </p>
          <TableWrap label="Transactions">
            <table>
              <caption className="sr-only">Transactions recording the global versions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Transaction</th>
                  <th scope="col" className="num">Gas</th>
                  <th scope="col" className="num">Block</th>
                </tr>
              </thead>
              <tbody>
                {shown.rows.map((row) => (
                  <tr key={row.hash}>
                    <th scope="row">v{row.version}</th>
                    <td><Hash value={row.hash} href={transactionUrl(explorer, row.hash)} /></td>
                    <td className="num">{integer(row.gas)}</td>
                    <td className="num">{integer(row.block)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager page={shown.page} pages={shown.pages} onPage={setPage} label="Transactions pages" />
        </>
      )}
    </Section>
  )
}

/** How long each round took (its numbers are in the rounds table too). */
export function ElapsedSection({ rounds }: { rounds: Round[] }) {
  const points = useMemo(() => chartSeries(rounds), [rounds])
  const summary = useMemo(() => elapsedSummary(rounds), [rounds])
  return (
    <Section title="Elapsed time per round">
      {rounds.length === 0 ? (
        <NoRounds />
      ) : (
        <figure className="figure card">
          <ElapsedChart points={points} />
          <figcaption>{summary} The rounds table under Validation gives each version’s time since the start.</figcaption>
        </figure>
      )}
    </Section>
  )
}

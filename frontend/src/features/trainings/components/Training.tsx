/**
 * The training page, live: status, validation metrics per global version, the clients' updates,
 * tokens per client, the transactions that recorded the versions, elapsed time per round; stop a
 * running training; download the final model with its SHA-256. While the training runs, new
 * rounds are polled every second (`/rounds/?after=<last version>`) and appended in place, and
 * the result itself every two seconds for its status: nothing reloads.
 *
 * `data-ready="true"` on the page's container marks it fully drawn (result, rounds and, in
 * blockchain mode, the chain's answer in): what the UI benchmark waits for.
 *
 * A single or incremental training (no clients, no chain) shows its validation per epoch (each
 * epoch, then each served increment, is a version), its test metrics and confusion matrix, and
 * what its increments did, instead of the updates, tokens and transactions.
 */
import { useQuery } from '@tanstack/react-query'
import { useEffect, useMemo, useRef } from 'react'
import { Link } from 'wouter'
import { type ApiError, type Result, type Round, type TrainingChain } from '../../../api/client'
import { ConfirmButton } from '../../../components/ConfirmButton'
import { Hash } from '../../../components/Hash'
import { Page } from '../../../components/Page'
import { ErrorNotice, Loading } from '../../../components/States'
import { integer, when } from '../../../lib/format'
import '../../../styles/results.css'
import { chainQuery, resultQuery, stopTraining } from '../api/results'
import { roundsQuery } from '../api/rounds'
import { outcome } from '../lib/final'
import { explorerBase, isActive, isBlockchain, timing, tokenRows, transactions } from '../lib/training'
import { OutcomeSection } from './Outcome'
import { ElapsedSection, TokensSection, TransactionsSection, UpdatesSection, ValidationSection } from './TrainingSections'
import { TrainingRoute } from './TrainingRoute'

export default function Training() {
  return <TrainingRoute view={TrainingView} />
}

/** The final model is uploaded after the final report: a finished training without it is asked again for a few minutes. */
function awaitingModel(result: Result | undefined): boolean {
  const finished = result?.finished_at ? Date.parse(result.finished_at) : 0
  return result?.status === 'finished' && !result.model_sha256 && Date.now() - finished < 10 * 60_000
}

function TrainingView({ id }: { id: number }) {
  const result = useQuery({
    ...resultQuery(id),
    refetchInterval: ({ state }) =>
      isActive(state.data?.status) ? timing.resultMs : awaitingModel(state.data) ? timing.chainMs : false,
  })
  const live = isActive(result.data?.status)
  const rounds = useQuery({ ...roundsQuery(id), refetchInterval: live ? timing.roundsMs : false })
  const chain = useQuery({
    ...chainQuery(id),
    refetchInterval: live && isBlockchain(result.data) ? timing.chainMs : false,
  })

  // When the training ends, read the rounds and the chain once more: the last rounds and the final
  // payouts are recorded just before then.
  const wasLive = useRef(false)
  const { refetch: refetchRounds } = rounds
  const { refetch: refetchChain } = chain
  useEffect(() => {
    if (wasLive.current && !live) {
      void refetchRounds()
      void refetchChain()
    }
    wasLive.current = live
  }, [live, refetchRounds, refetchChain])

  if (result.error && !result.data) {
    return (
      <Page title={`Training ${id}`}>
        <ErrorNotice error={result.error} retry={() => void result.refetch()} />
      </Page>
    )
  }
  if (!result.data) return <Loading what="the training" />

  const federated = (result.data.kind ?? 'federated') === 'federated'
  const blockchain = federated && isBlockchain(result.data)
  const chainSettled = !blockchain || chain.data !== undefined || chain.error !== null
  const ready = rounds.data !== undefined && chainSettled
  return (
    <Page title={`${result.data.model_name} · training ${id}`} actions={<Actions result={result.data} onStopped={() => void result.refetch()} />}>
      <div className="training" data-ready={ready ? 'true' : 'false'}>
        {result.error && <ErrorNotice error={result.error} retry={() => void result.refetch()} />}
        <Summary result={result.data} roundsShown={rounds.data?.length ?? 0} />
        {rounds.error && <ErrorNotice error={rounds.error} retry={() => void rounds.refetch()} />}
        {rounds.data === undefined ? (
          !rounds.error && <Loading what="the rounds" />
        ) : (
          federated ? (
          <Sections
            rounds={rounds.data}
            blockchain={blockchain}
            chainData={chain.data}
            chainError={blockchain ? chain.error : null}
            explorer={explorerBase(result.data.explorer_url ?? chain.data?.explorer_url)}
          />
          ) : (
            <>
              <ValidationSection rounds={rounds.data} federated={false} />
              <OutcomeSection outcome={outcome(result.data.final)} finished={!isActive(result.data.status)} />
              <ElapsedSection rounds={rounds.data} />
            </>
          )
        )}
      </div>
    </Page>
  )
}

function Sections({
  rounds,
  blockchain,
  chainData,
  chainError,
  explorer,
}: {
  rounds: Round[]
  blockchain: boolean
  chainData: TrainingChain | undefined
  chainError: ApiError | null
  explorer: string | null
}) {
  const tokenData = useMemo(() => tokenRows(blockchain ? chainData : undefined, rounds), [blockchain, chainData, rounds])
  const sent = useMemo(() => transactions(rounds), [rounds])
  const chainProblem = blockchain && !chainData && chainError ? `The chain cannot be read now: ${chainError.message}` : null
  return (
    <>
      <ValidationSection rounds={rounds} />
      <UpdatesSection rounds={rounds} />
      <TokensSection rows={tokenData.rows} source={tokenData.source} chainProblem={chainProblem} />
      {(blockchain || sent.rows.length > 0) && <TransactionsSection rows={sent.rows} gas={sent.gas} explorer={explorer} />}
      <ElapsedSection rounds={rounds} />
    </>
  )
}

function Actions({ result, onStopped }: { result: Result; onStopped: () => void }) {
  return (
    <>
      <span className={`badge status-badge ${result.status ?? ''}`} aria-live="polite">
        {result.status}
      </span>
      {isActive(result.status) && <StopControl id={result.id} onStopped={onStopped} />}
      {result.status === 'finished' && result.model_sha256 && (
        <>
          <a className="button primary" href={`/api/results/${result.id}/model/`} download>
            Download model
          </a>
          <Link href={`/inferences/new?result=${result.id}`} className="button">
            Deploy for inference
          </Link>
        </>
      )}
      <Link href={`/trainings/${result.id}/lineage`} className="button">
        Lineage and audit
      </Link>
    </>
  )
}

/** "Stop", then a confirmation in place (the training's jobs are ended; it cannot be resumed). */
function StopControl({ id, onStopped }: { id: number; onStopped: () => void }) {
  return (
    <ConfirmButton label="Stop" question="Stop this training? Its jobs end and it cannot be resumed." confirm="Yes, stop it"
      busyText="Stopping…" group="Confirm stopping the training" run={() => stopTraining(id).then(onStopped)} />
  )
}

function Summary({ result, roundsShown }: { result: Result; roundsShown: number }) {
  const federated = (result.kind ?? 'federated') === 'federated'
  const blockchain = federated && isBlockchain(result)
  return (
    <dl className="stats card">
      <div>
        <dt>{federated ? 'Rounds' : 'Versions'}</dt>
        <dd>{integer(Math.max(result.rounds_done ?? 0, roundsShown))}</dd>
      </div>
      <div>
        <dt>{federated ? 'Coordination' : 'Kind'}</dt>
        <dd>{federated ? (blockchain ? 'blockchain' : 'classic') : result.kind}</dd>
      </div>
      <div>
        <dt>Started</dt>
        <dd>{when(result.started_at)}</dd>
      </div>
      <div>
        <dt>Finished</dt>
        <dd>{when(result.finished_at)}</dd>
      </div>
      {blockchain && (
        <div>
          <dt>Contract</dt>
          <dd>
            <Hash value={result.contract_address} href={result.explorer_url} />
          </dd>
        </div>
      )}
      {result.model_sha256 && (
        <div className="wide">
          <dt>Final model SHA-256</dt>
          <dd>
            <code>{result.model_sha256}</code>
          </dd>
        </div>
      )}
      {result.status === 'finished' && !result.model_sha256 && (
        <div>
          <dt>Final model</dt>
          <dd>being uploaded…</dd>
        </div>
      )}
      {result.error && (
        <div className="wide">
          <dt>Error</dt>
          <dd>{result.error}</dd>
        </div>
      )}
    </dl>
  )
}

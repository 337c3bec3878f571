/**
 * One inference: its status and settings, stop or delete, and the **live view** of its output
 * topic: the newest answers (a window of 100 to 1000) counted per class as bars, or a
 * regression's first output as a line, asked again every few seconds while the inference runs and
 * the page is visible (TanStack Query pauses intervals in a hidden tab). The bars are plain HTML
 * and the line one SVG polyline, as the training page's light charts: no chart library in this
 * chunk. A table carries the same counts for screen readers.
 */
import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import { Link, useLocation, useParams } from 'wouter'
import { Page } from '../../../components/Page'
import { Empty, ErrorNotice, Guard, Loading } from '../../../components/States'
import { TableWrap } from '../../../components/TableWrap'
import { integer, percent, when } from '../../../lib/format'
import '../../../styles/results.css'
import { inferenceQuery, predictionsQuery, type Inference, type Predictions } from '../api/inferences'
import { classBars, linePoints } from '../lib/predictions'
import { Actions, isRunning, POLL_MS, Topics } from './InferenceParts'

const WINDOWS = [100, 500, 1000]

export default function InferenceView() {
  const id = Number(useParams<{ id: string }>().id)
  const [, navigate] = useLocation()
  const inference = useQuery({
    ...inferenceQuery(id),
    refetchInterval: ({ state }) => (state.data && isRunning(state.data) ? POLL_MS : false),
  })
  return (
    <Page title={`Inference ${id}`} actions={<Link href="/inferences">All inferences</Link>}>
      <Guard loaded={inference} what="the inference">
        {(data) => (
          <>
            <Summary inference={data} onDeleted={() => navigate('/inferences')} />
            <LiveView inference={data} />
          </>
        )}
      </Guard>
    </Page>
  )
}

function Summary({ inference, onDeleted }: { inference: Inference; onDeleted: () => void }) {
  return (
    <>
      <dl className="stats card">
        <div>
          <dt>Status</dt>
          <dd><span className={`badge ${inference.status ?? ''}`} aria-live="polite">{inference.status}</span></dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd><Link href={`/trainings/${inference.result}`}>{inference.model_name} · training {inference.result}</Link></dd>
        </div>
        <div>
          <dt>Input</dt>
          <dd>{inference.input_format}</dd>
        </div>
        <div>
          <dt>Replicas</dt>
          <dd>{inference.replicas}</dd>
        </div>
        <div>
          <dt>Batch</dt>
          <dd>{inference.batch ?? 'default'}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>{when(inference.created_at)}</dd>
        </div>
        <div className="wide">
          <dt>Topics</dt>
          <dd><Topics inference={inference} /></dd>
        </div>
        {inference.error && (
          <div className="wide">
            <dt>Error</dt>
            <dd className="excerpt">{inference.error}</dd>
          </div>
        )}
      </dl>
      <div className="actions">
        <Actions inference={inference} onDeleted={onDeleted} />
      </div>
    </>
  )
}

export function LiveView({ inference }: { inference: Inference }) {
  const [size, setSize] = useState(WINDOWS[0]!)
  const predictions = useQuery({
    ...predictionsQuery(inference.id, size),
    refetchInterval: isRunning(inference) ? POLL_MS : false,
  })
  return (
    <section className="block" aria-labelledby="live-title">
      <h2 id="live-title">Live predictions</h2>
      <div className="toolbar">
        <div className="field">
          <label htmlFor="live-window">Newest answers</label>
          <select id="live-window" value={size} onChange={(event) => setSize(Number(event.target.value))}>
            {WINDOWS.map((choice) => (
              <option key={choice} value={choice}>{choice}</option>
            ))}
          </select>
        </div>
        {isRunning(inference) && <span className="help">Updated every {POLL_MS / 1000} s.</span>}
      </div>
      {predictions.error && <ErrorNotice error={predictions.error} retry={() => void predictions.refetch()} />}
      {predictions.data ? <Answers predictions={predictions.data} /> : !predictions.error && <Loading what="the newest answers" />}
    </section>
  )
}

function Answers({ predictions }: { predictions: Predictions }) {
  const bars = classBars(predictions)
  const line = linePoints(predictions.values)
  const offsets = predictions.partitions.map((span) => `partition ${span.partition}: ${span.first}–${span.last}`).join('; ')
  return (
    <>
      <p className="help">
        {integer(predictions.read)} answer{predictions.read === 1 ? '' : 's'} read of the newest {integer(predictions.window)}
        {offsets && <> ({offsets})</>}
        {predictions.invalid > 0 && <>; {integer(predictions.invalid)} not a prediction</>}
        {!predictions.complete && <>; the read stopped early, so some newer answers may be missing</>}.
      </p>
      {predictions.read === 0 && <Empty>No answer on the output topic yet: they appear as samples arrive on the input topic.</Empty>}
      {bars.length > 0 && (
        <figure className="figure card">
          <div className="token-bars" aria-hidden="true">
            {bars.map((bar) => (
              <div className="token-bar" key={bar.label}>
                <span className="lane-label">class {bar.label}</span>
                <span className="bars">
                  <span className="bar" style={{ width: bar.width, background: '#0b5cad' }} />
                </span>
                <span className="amount">{integer(bar.count)}</span>
              </div>
            ))}
          </div>
          <figcaption>Predicted classes among the newest answers.</figcaption>
          <TableWrap label="Predicted classes">
            <table>
              <caption className="sr-only">Answers per predicted class</caption>
              <thead>
                <tr>
                  <th scope="col">Class</th>
                  <th scope="col" className="num">Answers</th>
                  <th scope="col" className="num">Share</th>
                </tr>
              </thead>
              <tbody>
                {bars.map((bar) => (
                  <tr key={bar.label}>
                    <th scope="row">{bar.label}</th>
                    <td className="num">{integer(bar.count)}</td>
                    <td className="num">{percent(bar.share)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
        </figure>
      )}
      {line && (
        <figure className="figure card">
          <svg className="live-line" viewBox="0 0 100 40" preserveAspectRatio="none" aria-hidden="true">
            <polyline points={line.points} fill="none" stroke="#0b5cad" strokeWidth={1.5} vectorEffect="non-scaling-stroke" />
          </svg>
          <figcaption>
            The first output of the newest {integer(predictions.values.length)} regression answers, oldest to newest: from{' '}
            {line.low.toPrecision(4)} to {line.high.toPrecision(4)}.
          </figcaption>
        </figure>
      )}
    </>
  )
}

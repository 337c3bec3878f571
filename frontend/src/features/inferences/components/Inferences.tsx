/**
 * The inferences: each deployed model answering on Kafka topics, its status, topics and
 * replicas, with stop (while it runs) and delete (once stopped or failed). The list is polled
 * while one is starting or running, so a failure shows without a reload. This module is the
 * inference pages' one chunk (loaded when one of them opens): it also hands out the form and the
 * detail page.
 */
import { useQuery } from '@tanstack/react-query'
import { Link } from 'wouter'
import { ListTable, type Column } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { Guard } from '../../../components/States'
import { when } from '../../../lib/format'
import '../../../styles/results.css'
import { inferenceList, type Inference } from '../api/inferences'
import { Actions, isRunning, Topics, POLL_MS } from './InferenceParts'

export { default as InferenceForm } from './InferenceForm'
export { default as InferenceView } from './InferenceView'

const COLUMNS: Column<Inference>[] = [
  { header: 'Inference', rowHeader: true, cell: (item) => <Link href={`/inferences/${item.id}`}>Inference {item.id}</Link> },
  { header: 'Model', cell: (item) => <Link href={`/trainings/${item.result}`}>{item.model_name} · training {item.result}</Link> },
  { header: 'Status', cell: (item) => <span className={`badge ${item.status ?? ''}`}>{item.status}</span> },
  { header: 'Topics', cell: (item) => <Topics inference={item} /> },
  { header: 'Replicas', num: true, cell: (item) => item.replicas },
  { header: 'Created', cell: (item) => when(item.created_at) },
  { header: 'Actions', cell: (item) => <Actions inference={item} /> },
]

export default function Inferences() {
  const list = useQuery({
    ...inferenceList(),
    refetchInterval: ({ state }) => (state.data?.results.some(isRunning) ? POLL_MS : false),
  })
  return (
    <Page title="Inferences" actions={<Link href="/inferences/new" className="button primary">New inference</Link>}>
      <p>
        Trained models answering on Kafka: each reads samples from its input topic and writes one prediction per sample,
        with the sample&apos;s key, to its output topic. Deploy one from a finished training.
      </p>
      <Guard
        loaded={list}
        what="the inferences"
        empty={(data) => data.results.length === 0}
        emptyText={<p>No inference yet: open a finished training and choose “Deploy for inference”.</p>}
      >
        {(data) => (
          <ListTable label="Inferences" caption="Your inferences: status, model, topics and replicas" columns={COLUMNS}
            rows={data.results} rowKey={(item) => item.id} total={data.count} noun="inferences" />
        )}
      </Guard>
    </Page>
  )
}

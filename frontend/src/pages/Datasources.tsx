/**
 * The platform's datasources (registered from the data control records the clients send): their
 * topic, format, sample counts, input shape, classes, content hash and the control record they
 * came from; and the control records that were rejected, with why and what the registry kept of
 * each (its size, its first bytes, its hash: bounded, whatever the record was).
 */
import { useState } from 'react'
import { api, call, type Datasource, type Rejected } from '../api/client'
import { Hash } from '../components/Hash'
import { Page } from '../components/Page'
import { Pager } from '../components/Pager'
import { TableWrap } from '../components/TableWrap'
import { Guard } from '../components/States'
import { integer, when } from '../format'
import { useApi } from '../hooks'
import { countsText, shapeText } from '../training'
import './results.css'

const PAGE_SIZE = 50

export default function Datasources() {
  return (
    <Page title="Datasources">
      <p>
        Datasources are registered from the data control records the clients publish; each names the topic its samples are in
        and how they are encoded.
      </p>
      <Registered />
      <RejectedRecords />
    </Page>
  )
}

function Registered() {
  const [page, setPage] = useState(0)
  const list = useApi(
    () => call(api.GET('/api/datasources/', { params: { query: { limit: PAGE_SIZE, offset: page * PAGE_SIZE } } })),
    [page],
  )
  return (
    <section className="block" aria-labelledby="registered-title">
      <h2 id="registered-title">Registered</h2>
      <Guard
        loaded={list}
        what="the datasources"
        empty={(data) => data.results.length === 0}
        emptyText={<p>No datasource registered yet. A client's data control record registers one.</p>}
      >
        {(data) => (
          <>
            <DatasourceTable datasources={data.results} />
            <Pager page={page} pages={Math.max(1, Math.ceil(data.count / PAGE_SIZE))} onPage={setPage} label="Datasources pages" />
          </>
        )}
      </Guard>
    </section>
  )
}

function DatasourceTable({ datasources }: { datasources: Datasource[] }) {
  return (
    <TableWrap label="Registered datasources">
      <table>
        <caption className="sr-only">Registered datasources</caption>
        <thead>
          <tr>
            <th scope="col">Datasource</th>
            <th scope="col">Topic</th>
            <th scope="col">Format</th>
            <th scope="col">Samples</th>
            <th scope="col">Input shape</th>
            <th scope="col" className="num">Classes</th>
            <th scope="col">Hash</th>
            <th scope="col">Control record</th>
            <th scope="col">Registered</th>
          </tr>
        </thead>
        <tbody>
          {datasources.map((source) => (
            <tr key={source.id}>
              <th scope="row">
                {source.datasource_id}
                {source.description && <div className="muted">{source.description}</div>}
              </th>
              <td><code>{source.topic}</code></td>
              <td>{source.format}</td>
              <td>{countsText(source.counts)}</td>
              <td>{shapeText(source.input_shape)}</td>
              <td className="num">{integer(source.classes)}</td>
              <td><Hash value={source.sha256} /></td>
              <td><code>{`${source.control_topic}[${source.control_partition}] @${source.control_offset}`}</code></td>
              <td>{when(source.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}

function RejectedRecords() {
  const [page, setPage] = useState(0)
  const list = useApi(
    () => call(api.GET('/api/datasources/rejected/', { params: { query: { limit: PAGE_SIZE, offset: page * PAGE_SIZE } } })),
    [page],
  )
  return (
    <section className="block" aria-labelledby="rejected-title">
      <h2 id="rejected-title">Rejected control records</h2>
      <Guard
        loaded={list}
        what="the rejected control records"
        empty={(data) => data.results.length === 0}
        emptyText={<p>No control record has been rejected.</p>}
      >
        {(data) => (
          <>
            <RejectedTable records={data.results} />
            <Pager page={page} pages={Math.max(1, Math.ceil(data.count / PAGE_SIZE))} onPage={setPage} label="Rejected records pages" />
          </>
        )}
      </Guard>
    </section>
  )
}

function RejectedTable({ records }: { records: Rejected[] }) {
  return (
    <TableWrap label="Rejected control records">
      <table>
        <caption className="sr-only">Rejected data control records and why</caption>
        <thead>
          <tr>
            <th scope="col">Control record</th>
            <th scope="col">Reason</th>
            <th scope="col" className="num">Bytes</th>
            <th scope="col">Starts with</th>
            <th scope="col">Hash</th>
            <th scope="col">When</th>
          </tr>
        </thead>
        <tbody>
          {records.map((record) => (
            <tr key={record.id}>
              <th scope="row"><code>{`${record.control_topic}[${record.control_partition}] @${record.control_offset}`}</code></th>
              <td>{record.reason}</td>
              <td className="num">{integer(record.size)}</td>
              <td><code className="excerpt" title={record.excerpt}>{clipped(record.excerpt)}</code></td>
              <td><Hash value={record.sha256} /></td>
              <td>{when(record.created_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableWrap>
  )
}

const SHOWN_CHARS = 80

/** The start of an excerpt (the registry keeps up to 200 bytes; the cell shows less). */
function clipped(text: string): string {
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text
}

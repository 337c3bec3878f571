/**
 * The platform's datasources (registered from the data control records the clients send): their
 * topic, format, sample counts, input shape, classes, content hash and the control record they
 * came from; and the control records that were rejected, with why and what the registry kept of
 * each (its size, its first bytes, its hash: bounded, whatever the record was).
 */
import { useQuery } from '@tanstack/react-query'
import { useState } from 'react'
import type { Datasource, Rejected } from '../../../api/client'
import { Hash } from '../../../components/Hash'
import { ListTable, type Column } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { Pager } from '../../../components/Pager'
import { Guard } from '../../../components/States'
import { integer, when } from '../../../lib/format'
import '../../../styles/results.css'
import { datasourcePage, PAGE_SIZE, rejectedPage } from '../api/datasources'
import { countsText, shapeText } from '../lib/datasource'

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
  const list = useQuery(datasourcePage(page))
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
            <ListTable label="Registered datasources" caption="Registered datasources" columns={DATASOURCE_COLUMNS}
              rows={data.results} rowKey={(source) => source.id} />
            <Pager page={page} pages={Math.max(1, Math.ceil(data.count / PAGE_SIZE))} onPage={setPage} label="Datasources pages" />
          </>
        )}
      </Guard>
    </section>
  )
}

const recordText = (record: Pick<Datasource, 'control_topic' | 'control_partition' | 'control_offset'>) => (
  <code>{`${record.control_topic}[${record.control_partition}] @${record.control_offset}`}</code>
)

const DATASOURCE_COLUMNS: Column<Datasource>[] = [
  {
    header: 'Datasource',
    rowHeader: true,
    cell: (source) => (
      <>
        {source.datasource_id}
        {source.description && <div className="muted">{source.description}</div>}
      </>
    ),
  },
  { header: 'Topic', cell: (source) => <code>{source.topic}</code> },
  { header: 'Format', cell: (source) => source.format },
  { header: 'Samples', cell: (source) => countsText(source.counts) },
  { header: 'Input shape', cell: (source) => shapeText(source.input_shape) },
  { header: 'Classes', num: true, cell: (source) => integer(source.classes) },
  { header: 'Hash', cell: (source) => <Hash value={source.sha256} /> },
  { header: 'Control record', cell: recordText },
  { header: 'Registered', cell: (source) => when(source.created_at) },
]

function RejectedRecords() {
  const [page, setPage] = useState(0)
  const list = useQuery(rejectedPage(page))
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
            <ListTable label="Rejected control records" caption="Rejected data control records and why"
              columns={REJECTED_COLUMNS} rows={data.results} rowKey={(record) => record.id} />
            <Pager page={page} pages={Math.max(1, Math.ceil(data.count / PAGE_SIZE))} onPage={setPage} label="Rejected records pages" />
          </>
        )}
      </Guard>
    </section>
  )
}

const REJECTED_COLUMNS: Column<Rejected>[] = [
  { header: 'Control record', rowHeader: true, cell: recordText },
  { header: 'Reason', cell: (record) => record.reason },
  { header: 'Bytes', num: true, cell: (record) => integer(record.size) },
  { header: 'Starts with', cell: (record) => <code className="excerpt" title={record.excerpt}>{clipped(record.excerpt)}</code> },
  { header: 'Hash', cell: (record) => <Hash value={record.sha256} /> },
  { header: 'When', cell: (record) => when(record.created_at) },
]

const SHOWN_CHARS = 80

/** The start of an excerpt (the registry keeps up to 200 bytes; the cell shows less). */
function clipped(text: string): string {
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text
}

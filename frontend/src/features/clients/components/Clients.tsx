/**
 * The clients (data owners) seen in the user's trainings: per client its updates accepted and
 * rejected, the tokens its updates earned and its token balance on chain; and per training it took
 * part in, its sample ceiling, updates and earnings. When the chain cannot be read, the balances
 * are left out and the page says why.
 */
import { useQuery } from '@tanstack/react-query'
import { Link } from 'wouter'
import type { ClientList } from '../../../api/client'
import { Hash } from '../../../components/Hash'
import { ListTable, type Column } from '../../../components/ListTable'
import { Page } from '../../../components/Page'
import { ErrorNotice, Guard } from '../../../components/States'
import { TableWrap } from '../../../components/TableWrap'
import { integer, tokens } from '../../../lib/format'
import '../../../styles/results.css'
import { clientList } from '../api/clients'

type Client = ClientList['clients'][number]

export default function Clients() {
  const list = useQuery(clientList())
  return (
    <Page title="Clients">
      <p>
        The clients named in your deployments or seen sending updates in your trainings. Earnings are the rewards the rounds
        report; balances are read from the platform's token contract now.
      </p>
      <Guard
        loaded={list}
        what="the clients"
        empty={(data) => data.clients.length === 0}
        emptyText={<p>No client yet: clients appear once a deployment names them.</p>}
      >
        {(data) => (
          <>
            {data.chain_error && (
              <ErrorNotice error={`Token balances are not shown: ${data.chain_error}`} retry={() => void list.refetch()} />
            )}
            <Totals clients={data.clients} />
            <Participations clients={data.clients} />
          </>
        )}
      </Guard>
    </Page>
  )
}

const TOTAL_COLUMNS: Column<Client>[] = [
  { header: 'Client', rowHeader: true, cell: (client) => <Hash value={client.client} keep={8} /> },
  { header: 'Trainings', num: true, cell: (client) => client.trainings.length },
  { header: 'Accepted updates', num: true, cell: (client) => integer(client.accepted) },
  { header: 'Rejected updates', num: true, cell: (client) => integer(client.rejected) },
  { header: 'Earned', num: true, cell: (client) => tokens(client.earned) },
  { header: 'Balance', num: true, cell: (client) => tokens(client.balance) },
]

function Totals({ clients }: { clients: Client[] }) {
  return (
    <section className="block" aria-labelledby="totals-title">
      <h2 id="totals-title">Totals</h2>
      <ListTable label="Client totals" caption="Each client's updates, earnings and token balance" columns={TOTAL_COLUMNS}
        rows={clients} rowKey={(client) => client.client} />
    </section>
  )
}

function Participations({ clients }: { clients: Client[] }) {
  return (
    <section className="block" aria-labelledby="participations-title">
      <h2 id="participations-title">Participations</h2>
      <TableWrap label="Participations">
        <table>
          <caption className="sr-only">Each client's part in each training</caption>
          <thead>
            <tr>
              <th scope="col">Client</th>
              <th scope="col">Training</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">Sample ceiling</th>
              <th scope="col" className="num">Accepted</th>
              <th scope="col" className="num">Rejected</th>
              <th scope="col" className="num">Earned</th>
            </tr>
          </thead>
          <tbody>
            {clients.flatMap((client) =>
              client.trainings.map((training, index) => (
                <tr key={`${client.client}-${training.result}`}>
                  {index === 0 && (
                    <th scope="rowgroup" rowSpan={client.trainings.length}>
                      <Hash value={client.client} keep={6} />
                    </th>
                  )}
                  <td>
                    <Link href={`/trainings/${training.result}`}>{training.model_name || `Training ${training.result}`}</Link>
                    <div className="muted">Training {training.result}</div>
                  </td>
                  <td><span className={`badge ${training.status}`}>{training.status}</span></td>
                  <td className="num">{integer(training.sample_ceiling)}</td>
                  <td className="num">{integer(training.accepted)}</td>
                  <td className="num">{integer(training.rejected)}</td>
                  <td className="num">{tokens(training.earned)}</td>
                </tr>
              )),
            )}
          </tbody>
        </table>
      </TableWrap>
    </section>
  )
}

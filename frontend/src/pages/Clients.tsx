/**
 * The clients (data owners) seen in the user's trainings: per client its updates accepted and
 * rejected, the tokens its updates earned and its token balance on chain; and per training it took
 * part in, its sample ceiling, updates and earnings. When the chain cannot be read, the balances
 * are left out and the page says why.
 */
import { Link } from 'wouter'
import { api, call, type ClientList } from '../api/client'
import { Hash } from '../components/Hash'
import { Page } from '../components/Page'
import { TableWrap } from '../components/TableWrap'
import { ErrorNotice, Guard } from '../components/States'
import { integer, tokens } from '../format'
import { useApi } from '../hooks'
import './results.css'

type Client = ClientList['clients'][number]

export default function Clients() {
  const list = useApi(() => call(api.GET('/api/clients/')), [])
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
              <ErrorNotice error={`Token balances are not shown: ${data.chain_error}`} retry={list.reload} />
            )}
            <Totals clients={data.clients} />
            <Participations clients={data.clients} />
          </>
        )}
      </Guard>
    </Page>
  )
}

function Totals({ clients }: { clients: Client[] }) {
  return (
    <section className="block" aria-labelledby="totals-title">
      <h2 id="totals-title">Totals</h2>
      <TableWrap label="Client totals">
        <table>
          <caption className="sr-only">Each client's updates, earnings and token balance</caption>
          <thead>
            <tr>
              <th scope="col">Client</th>
              <th scope="col" className="num">Trainings</th>
              <th scope="col" className="num">Accepted updates</th>
              <th scope="col" className="num">Rejected updates</th>
              <th scope="col" className="num">Earned</th>
              <th scope="col" className="num">Balance</th>
            </tr>
          </thead>
          <tbody>
            {clients.map((client) => (
              <tr key={client.client}>
                <th scope="row"><Hash value={client.client} keep={8} /></th>
                <td className="num">{client.trainings.length}</td>
                <td className="num">{integer(client.accepted)}</td>
                <td className="num">{integer(client.rejected)}</td>
                <td className="num">{tokens(client.earned)}</td>
                <td className="num">{tokens(client.balance)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </TableWrap>
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

import { Page } from '../components/Page'

export default function Clients() {
  return <Page title="Clients">Not built yet.</Page>
}

import { Page } from '../components/Page'

export default function Datasources() {
  return <Page title="Datasources">Not built yet.</Page>
}

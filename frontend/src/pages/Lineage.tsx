import { Page } from '../components/Page'

export default function Lineage() {
  return <Page title="Lineage">Not built yet.</Page>
}

import { Page } from '../components/Page'

export default function Configurations() {
  return <Page title="Configurations">Not built yet.</Page>
}

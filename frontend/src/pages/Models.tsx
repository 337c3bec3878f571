import { Page } from '../components/Page'

export default function Models() {
  return <Page title="Models">Not built yet.</Page>
}

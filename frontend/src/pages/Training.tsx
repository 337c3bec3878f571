import { Page } from '../components/Page'

export default function Training() {
  return <Page title="Training">Not built yet.</Page>
}

import { Page } from '../components/Page'

export default function ModelEditor() {
  return <Page title="ModelEditor">Not built yet.</Page>
}

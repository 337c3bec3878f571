import { Page } from '../components/Page'

export default function Deployments() {
  return <Page title="Deployments">Not built yet.</Page>
}

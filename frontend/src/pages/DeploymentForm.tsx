import { Page } from '../components/Page'

export default function DeploymentForm() {
  return <Page title="DeploymentForm">Not built yet.</Page>
}

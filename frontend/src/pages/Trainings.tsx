import { Page } from '../components/Page'

export default function Trainings() {
  return <Page title="Trainings">Not built yet.</Page>
}

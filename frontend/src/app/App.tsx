/**
 * Routes: each section of the platform is a page; sign-in comes first when there is no session.
 * The two pages that draw with a large library (the model editor: CodeMirror; the training page:
 * Recharts) are chunks of their own, loaded when opened, and so are the inference pages (one
 * chunk for the three, which few users open); the other pages are light and ship with the app, in its one file (every further file costs its own compression overhead against the
 * bundle budget of benchmarks/ui.py).
 */
import { Suspense } from 'react'
import { Redirect, Route, Switch } from 'wouter'
import { Page } from '../components/Page'
import { Loading } from '../components/States'
import { useAuth } from '../features/auth/api/session'
import { SignIn } from '../features/auth/components/SignIn'
import Clients from '../features/clients/components/Clients'
import Configurations from '../features/configurations/components/Configurations'
import Datasources from '../features/datasources/components/Datasources'
import DeploymentForm from '../features/deployments/components/DeploymentForm'
import Deployments from '../features/deployments/components/Deployments'
import Models from '../features/models/components/Models'
import Lineage from '../features/trainings/components/Lineage'
import Trainings from '../features/trainings/components/Trainings'
import { Layout } from './Layout'
import { lazyPage, useOpeningPage } from './lazyPage'

const ModelEditor = lazyPage(() => import('../features/models/components/ModelEditor'), '/models/:id')
const inferences = () => import('../features/inferences/components/Inferences')
const Inferences = lazyPage(inferences, '/inferences')
const InferenceForm = lazyPage(() => inferences().then((module) => ({ default: module.InferenceForm })), '/inferences/new')
const InferenceView = lazyPage(() => inferences().then((module) => ({ default: module.InferenceView })), '/inferences/:id')
const Training = lazyPage(() => import('../features/trainings/components/Training'), '/trainings/:id')

export function App() {
  const { user, checking } = useAuth()
  const opened = useOpeningPage()
  if (checking || !opened) return <Loading what="your session" />
  if (!user) return <SignIn />
  return (
    <Layout>
      <Suspense fallback={<Loading what="the page" />}>
        <Switch>
          <Route path="/">
            <Redirect to="/trainings" />
          </Route>
          <Route path="/models" component={Models} />
          <Route path="/models/new" component={ModelEditor} />
          <Route path="/models/:id" component={ModelEditor} />
          <Route path="/configurations" component={Configurations} />
          <Route path="/deployments" component={Deployments} />
          <Route path="/deployments/new" component={DeploymentForm} />
          <Route path="/trainings" component={Trainings} />
          <Route path="/trainings/:id" component={Training} />
          <Route path="/trainings/:id/lineage" component={Lineage} />
          <Route path="/inferences" component={Inferences} />
          <Route path="/inferences/new" component={InferenceForm} />
          <Route path="/inferences/:id" component={InferenceView} />
          <Route path="/datasources" component={Datasources} />
          <Route path="/clients" component={Clients} />
          <Route>
            <Page title="Page not found">
              <p>
                There is no page here. <a href="/trainings">Go to the trainings</a>.
              </p>
            </Page>
          </Route>
        </Switch>
      </Suspense>
    </Layout>
  )
}

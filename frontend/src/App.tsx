/** Routes: each section of the platform is a page; sign-in comes first when there is no session. */
import { Suspense } from 'react'
import { Redirect, Route, Switch } from 'wouter'
import { useAuth } from './auth'
import { Layout } from './components/Layout'
import { Page } from './components/Page'
import { Loading } from './components/States'
import { lazyPage, useOpeningPage } from './lazyPage'
import { SignIn } from './pages/SignIn'

const Models = lazyPage(() => import('./pages/Models'), '/models')
const ModelEditor = lazyPage(() => import('./pages/ModelEditor'), '/models/:id')
const Configurations = lazyPage(() => import('./pages/Configurations'), '/configurations')
const Deployments = lazyPage(() => import('./pages/Deployments'), '/deployments')
const DeploymentForm = lazyPage(() => import('./pages/DeploymentForm'), '/deployments/new')
const Trainings = lazyPage(() => import('./pages/Trainings'), '/trainings')
const Training = lazyPage(() => import('./pages/Training'), '/trainings/:id')
const Lineage = lazyPage(() => import('./pages/Lineage'), '/trainings/:id/lineage')
const Datasources = lazyPage(() => import('./pages/Datasources'), '/datasources')
const Clients = lazyPage(() => import('./pages/Clients'), '/clients')

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

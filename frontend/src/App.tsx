/** Routes: each section of the platform is a page; sign-in comes first when there is no session. */
import { lazy, Suspense } from 'react'
import { Redirect, Route, Switch } from 'wouter'
import { useAuth } from './auth'
import { Layout } from './components/Layout'
import { Page } from './components/Page'
import { Loading } from './components/States'
import { SignIn } from './pages/SignIn'

const Models = lazy(() => import('./pages/Models'))
const ModelEditor = lazy(() => import('./pages/ModelEditor'))
const Configurations = lazy(() => import('./pages/Configurations'))
const Deployments = lazy(() => import('./pages/Deployments'))
const DeploymentForm = lazy(() => import('./pages/DeploymentForm'))
const Trainings = lazy(() => import('./pages/Trainings'))
const Training = lazy(() => import('./pages/Training'))
const Lineage = lazy(() => import('./pages/Lineage'))
const Datasources = lazy(() => import('./pages/Datasources'))
const Clients = lazy(() => import('./pages/Clients'))

export function App() {
  const { user, checking } = useAuth()
  if (checking) return <Loading what="your session" />
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

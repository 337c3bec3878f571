/**
 * The deployments API: the deployments, what a deployment form chooses from (datasources, the
 * strategies and reward policies with their parameters), what the list links to (trainings), and
 * deploying.
 */
import { queryOptions } from '@tanstack/react-query'
import { api, call, type DeploymentInput } from '../../../api/client'
import { LIST_LIMIT } from '../../../api/lists'

/** The deployments list names each deployment's trainings: enough of them for 500 deployments. */
const RESULTS_LIMIT = 1000

export const deploymentList = () =>
  queryOptions({
    queryKey: ['/api/deployments/', { limit: LIST_LIMIT }],
    queryFn: () => call(api.GET('/api/deployments/', { params: { query: { limit: LIST_LIMIT } } })),
  })

export const datasourceList = () =>
  queryOptions({
    queryKey: ['/api/datasources/', { limit: LIST_LIMIT }],
    queryFn: () => call(api.GET('/api/datasources/', { params: { query: { limit: LIST_LIMIT } } })),
  })

export const resultList = () =>
  queryOptions({
    queryKey: ['/api/results/', { limit: RESULTS_LIMIT }],
    queryFn: () => call(api.GET('/api/results/', { params: { query: { limit: RESULTS_LIMIT } } })),
  })

export const strategyCatalogue = () =>
  queryOptions({
    queryKey: ['/api/strategies/'],
    queryFn: () => call(api.GET('/api/strategies/')),
    // The backend's strategies change only with a new release.
    staleTime: Infinity,
  })

export const createDeployment = (body: DeploymentInput) => call(api.POST('/api/deployments/', { body }))

/**
 * The lists several features read (the configurations page names the models, the deployments
 * pages the configurations): one query each, shared through the cache.
 */
import { queryOptions } from '@tanstack/react-query'
import { api, call } from './client'

/** The most rows a list page or a choice asks for; a page says when there are more. */
export const LIST_LIMIT = 500

export const modelList = () =>
  queryOptions({
    queryKey: ['/api/models/', { limit: LIST_LIMIT }],
    queryFn: () => call(api.GET('/api/models/', { params: { query: { limit: LIST_LIMIT } } })),
  })

export const configurationList = () =>
  queryOptions({
    queryKey: ['/api/configurations/', { limit: LIST_LIMIT }],
    queryFn: () => call(api.GET('/api/configurations/', { params: { query: { limit: LIST_LIMIT } } })),
  })

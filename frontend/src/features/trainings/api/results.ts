/** The trainings (results) API: the list, one training, its chain record and audits, and its actions. */
import { keepPreviousData, queryOptions } from '@tanstack/react-query'
import { api, call } from '../../../api/client'

/** The statuses the list can be filtered by. */
export const STATUSES = ['created', 'running', 'finished', 'failed', 'stopped'] as const
export type Status = (typeof STATUSES)[number]

/** A page of the trainings; the page on screen stays while the next one loads. */
export const resultPage = (limit: number, offset: number, status: Status | '', deployment: number | undefined) => {
  const query = { limit, offset, ...(status ? { status } : {}), ...(deployment ? { deployment } : {}) }
  return queryOptions({
    queryKey: ['/api/results/', query],
    queryFn: () => call(api.GET('/api/results/', { params: { query } })),
    placeholderData: keepPreviousData,
  })
}

export const resultQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/results/{id}/', id],
    queryFn: () => call(api.GET('/api/results/{id}/', { params: { path: { id } } })),
  })

export const chainQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/results/{id}/chain/', id],
    queryFn: () => call(api.GET('/api/results/{id}/chain/', { params: { path: { id } } })),
  })

export const auditsQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/results/{id}/audits/', id],
    queryFn: () => call(api.GET('/api/results/{id}/audits/', { params: { path: { id } } })),
  })

export const stopTraining = (id: number) => call(api.POST('/api/results/{id}/stop/', { params: { path: { id } } }))

export const startAudit = (id: number) => call(api.POST('/api/results/{id}/audits/', { params: { path: { id } } }))

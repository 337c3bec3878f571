/** The models API: one model (the editor follows its build), and creating, changing, deleting one. */
import { queryOptions } from '@tanstack/react-query'
import { api, call, type Schemas } from '../../../api/client'

export const modelQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/models/{id}/', id],
    queryFn: () => call(api.GET('/api/models/{id}/', { params: { path: { id } } })),
  })

export const createModel = (body: Schemas['ModelInputRequest']) => call(api.POST('/api/models/', { body }))

export const updateModel = (id: number, body: Schemas['PatchedModelUpdateInputRequest']) =>
  call(api.PATCH('/api/models/{id}/', { params: { path: { id } }, body }))

export const deleteModel = (id: number) => call(api.DELETE('/api/models/{id}/', { params: { path: { id } } }))

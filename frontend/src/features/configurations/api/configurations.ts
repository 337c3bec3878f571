/** The configurations API: creating and deleting one (the list is shared: api/lists.ts). */
import { api, call, type Schemas } from '../../../api/client'

export const createConfiguration = (body: Schemas['ConfigurationInputRequest']) =>
  call(api.POST('/api/configurations/', { body }))

export const deleteConfiguration = (id: number) =>
  call(api.DELETE('/api/configurations/{id}/', { params: { path: { id } } }))

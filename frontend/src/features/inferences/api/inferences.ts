/**
 * The inferences API: the list, one inference, its newest answers (the live view), the finished
 * trainings an inference can serve, and deploying, stopping and deleting.
 */
import { queryOptions } from '@tanstack/react-query'
import { api, call, type Schemas } from '../../../api/client'
import { LIST_LIMIT } from '../../../api/lists'

export type Inference = Schemas['InferenceOutput']
export type InferenceInput = Schemas['InferenceInputRequest']
export type Predictions = Schemas['PredictionsOutput']

export const inferenceList = () =>
  queryOptions({
    queryKey: ['/api/inferences/', { limit: LIST_LIMIT }],
    queryFn: () => call(api.GET('/api/inferences/', { params: { query: { limit: LIST_LIMIT } } })),
  })

export const inferenceQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/inferences/{id}/', id],
    queryFn: () => call(api.GET('/api/inferences/{id}/', { params: { path: { id } } })),
  })

export const predictionsQuery = (id: number, window: number) =>
  queryOptions({
    queryKey: ['/api/inferences/{id}/predictions/', id, { window }],
    queryFn: () => call(api.GET('/api/inferences/{id}/predictions/', { params: { path: { id }, query: { window } } })),
  })

export const finishedResults = () =>
  queryOptions({
    queryKey: ['/api/results/', { limit: LIST_LIMIT, status: 'finished' }],
    queryFn: () => call(api.GET('/api/results/', { params: { query: { limit: LIST_LIMIT, status: 'finished' } } })),
  })

export const createInference = (body: InferenceInput) => call(api.POST('/api/inferences/', { body }))

export const stopInference = (id: number) => call(api.POST('/api/inferences/{id}/stop/', { params: { path: { id } } }))

export const deleteInference = (id: number) => call(api.DELETE('/api/inferences/{id}/', { params: { path: { id } } }))

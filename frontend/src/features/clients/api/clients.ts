/** The clients API: every client of the user's trainings, with its balance when the chain answers. */
import { queryOptions } from '@tanstack/react-query'
import { api, call } from '../../../api/client'

export const clientList = () =>
  queryOptions({ queryKey: ['/api/clients/'], queryFn: () => call(api.GET('/api/clients/')) })

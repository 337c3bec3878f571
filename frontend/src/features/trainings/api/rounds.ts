/**
 * A training's rounds, kept up to date: all of them once, then only the newer ones
 * (`/rounds/?after=<last version>`), merged into what the cache holds, so that nothing already
 * drawn is fetched or drawn again. A page polls it while the training runs (`refetchInterval`)
 * and asks once more when it ends, for the rounds reported just before the end.
 */
import { queryOptions } from '@tanstack/react-query'
import { api, call, type Round } from '../../../api/client'
import { lastVersion, mergeRounds } from '../lib/training'

export const roundsQuery = (id: number) =>
  queryOptions({
    queryKey: ['/api/results/{id}/rounds/', id],
    queryFn: async ({ client, queryKey }): Promise<Round[]> => {
      const known = client.getQueryData<Round[]>(queryKey) ?? []
      const after = lastVersion(known)
      const incoming = await call(
        api.GET('/api/results/{id}/rounds/', { params: { path: { id }, query: after === null ? {} : { after } } }),
      )
      return mergeRounds(known, incoming)
    },
    // mergeRounds returns the cached list itself when nothing is new, and keeps the rounds it had.
    structuralSharing: false,
  })

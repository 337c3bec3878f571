/** The datasources API: the registered datasources and the refused control records, a page at a time. */
import { keepPreviousData, queryOptions } from '@tanstack/react-query'
import { api, call } from '../../../api/client'

/** Rows per page of either table; the page on screen stays while the next one loads. */
export const PAGE_SIZE = 50

export const datasourcePage = (page: number) => {
  const query = { limit: PAGE_SIZE, offset: page * PAGE_SIZE }
  return queryOptions({
    queryKey: ['/api/datasources/', query],
    queryFn: () => call(api.GET('/api/datasources/', { params: { query } })),
    placeholderData: keepPreviousData,
  })
}

export const rejectedPage = (page: number) => {
  const query = { limit: PAGE_SIZE, offset: page * PAGE_SIZE }
  return queryOptions({
    queryKey: ['/api/datasources/rejected/', query],
    queryFn: () => call(api.GET('/api/datasources/rejected/', { params: { query } })),
    placeholderData: keepPreviousData,
  })
}

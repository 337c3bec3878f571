/** The empty, loading and error states every page shows instead of a blank or a stack trace. */
import type { ReactNode } from 'react'
import type { ApiError } from '../api/client'
import type { Loaded } from '../api/query'

export function Loading({ what }: { what: string }) {
  return (
    <p className="state" role="status" aria-live="polite">
      Loading {what}…
    </p>
  )
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="state empty">{children}</div>
}

export function ErrorNotice({ error, retry }: { error: ApiError | Error | string; retry?: () => void }) {
  const text = typeof error === 'string' ? error : error.message
  return (
    <div className="state error" role="alert">
      <span>{text}</span>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  )
}

/** Loading / error / empty / content, in that order, for one loaded value. */
export function Guard<T>({
  loaded,
  what,
  empty,
  emptyText,
  children,
}: {
  loaded: Loaded<T>
  what: string
  empty?: (data: T) => boolean
  emptyText?: ReactNode
  children: (data: T) => ReactNode
}) {
  const retry = () => void loaded.refetch()
  if (loaded.error && loaded.data === undefined) return <ErrorNotice error={loaded.error} retry={retry} />
  if (loaded.data === undefined) return <Loading what={what} />
  if (empty?.(loaded.data)) return <Empty>{emptyText}</Empty>
  return (
    <>
      {loaded.error && <ErrorNotice error={loaded.error} retry={retry} />}
      {children(loaded.data)}
    </>
  )
}

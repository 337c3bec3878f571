/**
 * Pages loaded on demand (one chunk each) that stop suspending once loaded, and the page the app
 * opens on fetched at start, in parallel with the session check. React 19 holds a Suspense
 * boundary's content back until 300 ms after it last showed its fallback, so a page that
 * suspended on its chunk at start would be drawn 300 ms late; App waits for the opening page
 * outside Suspense instead (`useOpeningPage`), and later navigations suspend as usual.
 */
import { createElement, lazy, useEffect, useState, type ComponentType } from 'react'

const opening: Promise<unknown>[] = []

/** `load`'s page, fetched now if the app opens on `route` (a wouter pattern such as `/trainings/:id`). */
export function lazyPage(load: () => Promise<{ default: ComponentType }>, route: string): ComponentType {
  let loaded: ComponentType | null = null
  const fetchPage = () =>
    load().then((module) => {
      loaded = module.default
      return module
    })
  const Lazy = lazy(fetchPage)
  const pattern = new RegExp(`^${route.replace(/:[^/]+/g, '[^/]+')}/?$`)
  if (typeof window !== 'undefined' && pattern.test(window.location.pathname)) opening.push(fetchPage())
  return function Page(props: object) {
    return createElement(loaded ?? Lazy, props)
  }
}

/** False until the page the app opened on is loaded (or failed to: Suspense and the error take over). */
export function useOpeningPage(): boolean {
  const [ready, setReady] = useState(opening.length === 0)
  useEffect(() => {
    if (!ready) void Promise.allSettled(opening).then(() => setReady(true))
  }, [ready])
  return ready
}

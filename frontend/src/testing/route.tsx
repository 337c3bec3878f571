/** Render a page under its route at `path`, as the app does, with a cache of its own (tests only). */
import { QueryClientProvider } from '@tanstack/react-query'
import { render } from '@testing-library/react'
import type { ComponentType, ReactNode } from 'react'
import { Route, Router } from 'wouter'
import { memoryLocation } from 'wouter/memory-location'
import { newQueryClient } from '../api/query'

/** `children` rendered with a fresh query cache, so that no test sees another's answers. */
export function renderWithQueries(children: ReactNode) {
  return render(<QueryClientProvider client={newQueryClient()}>{children}</QueryClientProvider>)
}

export function renderAt(path: string, pattern: string, component: ComponentType) {
  const location = memoryLocation({ path, record: true })
  const view = renderWithQueries(
    <Router hook={location.hook} searchHook={location.searchHook}>
      <Route path={pattern} component={component} />
    </Router>,
  )
  return { ...view, location }
}

/** Render a page under its route at `path`, as the app does (tests only). */
import { render } from '@testing-library/react'
import type { ComponentType } from 'react'
import { Route, Router } from 'wouter'
import { memoryLocation } from 'wouter/memory-location'

export function renderAt(path: string, pattern: string, component: ComponentType) {
  const location = memoryLocation({ path, record: true })
  const view = render(
    <Router hook={location.hook} searchHook={location.searchHook}>
      <Route path={pattern} component={component} />
    </Router>,
  )
  return { ...view, location }
}

import { render, screen, waitFor } from '@testing-library/react'
import { Suspense } from 'react'
import { afterEach, expect, it, vi } from 'vitest'

afterEach(() => window.history.pushState({}, '', '/'))

function Opened() {
  return <p>the opening page</p>
}

it('fetches the page the app opens on at start, and draws it without suspending', async () => {
  window.history.pushState({}, '', '/things/5')
  vi.resetModules()
  const { lazyPage, useOpeningPage } = await import('./lazyPage')
  const opening = vi.fn(async () => ({ default: Opened }))
  const other = vi.fn(async () => ({ default: Opened }))
  const Page = lazyPage(opening, '/things/:id')
  lazyPage(other, '/things/:id/details')
  expect(opening).toHaveBeenCalledTimes(1) // already, before any render
  expect(other).not.toHaveBeenCalled()

  let fallbacks = 0
  function Fallback() {
    fallbacks += 1
    return <p>loading</p>
  }
  function App() {
    const opened = useOpeningPage()
    if (!opened) return <p>waiting</p>
    return (
      <Suspense fallback={<Fallback />}>
        <Page />
      </Suspense>
    )
  }
  render(<App />)
  await waitFor(() => expect(screen.getByText('the opening page')).toBeTruthy())
  expect(fallbacks).toBe(0)
})

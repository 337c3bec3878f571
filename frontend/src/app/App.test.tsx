import { screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, expect, it, vi } from 'vitest'
import { resetCsrf } from '../api/client'
import { renderWithQueries } from '../testing/route'
import { App } from './App'

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

afterEach(() => {
  vi.unstubAllGlobals()
  resetCsrf()
})

it('signs in by keyboard, says so when the password is wrong, and signs out', async () => {
  let signedIn = false
  vi.stubGlobal(
    'fetch',
    vi.fn(async (input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : String(input)
      const body = input instanceof Request && input.method === 'POST' ? await input.clone().text() : ''
      if (url.endsWith('/api/auth/csrf/')) return json({ csrf_token: 't' })
      if (url.endsWith('/api/auth/login/')) {
        if (!body.includes('"right"')) return json({ detail: 'Invalid username or password.' }, 401)
        signedIn = true
        return json({ id: 1, username: 'alice', is_staff: false })
      }
      if (url.endsWith('/api/auth/logout/')) {
        signedIn = false
        return new Response(null, { status: 204 })
      }
      if (url.endsWith('/api/auth/me/')) return signedIn ? json({ id: 1, username: 'alice', is_staff: false }) : json({}, 403)
      return json({ count: 0, next: null, previous: null, results: [] })
    }),
  )
  const user = userEvent.setup()
  renderWithQueries(<App />)
  await user.click(await screen.findByLabelText('User name'))
  await user.keyboard('alice')
  await user.tab()
  await user.keyboard('wrong{Enter}')
  expect((await screen.findByRole('alert')).textContent).toContain('Wrong user name or password.')
  await user.clear(screen.getByLabelText('Password'))
  await user.type(screen.getByLabelText('Password'), 'right{Enter}')
  const signOut = await screen.findByRole('button', { name: 'Sign out' })
  expect(screen.getByText('alice')).toBeTruthy()
  await user.click(signOut)
  expect(await screen.findByRole('button', { name: 'Sign in' })).toBeTruthy()
})

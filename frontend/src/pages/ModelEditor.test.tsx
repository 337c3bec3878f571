import { render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, expect, it, vi } from 'vitest'
import { Route, Router, Switch } from 'wouter'
import { memoryLocation } from 'wouter/memory-location'
import { model, page } from '../testing/authoring'
import { json, stubFetch } from '../testing/fixtures'
import ModelEditor from './ModelEditor'
import Models from './Models'

afterEach(() => vi.unstubAllGlobals())

function renderAt(path: string) {
  const location = memoryLocation({ path, record: true })
  render(
    <Router hook={location.hook} searchHook={location.searchHook}>
      <Switch>
        <Route path="/models" component={Models} />
        <Route path="/models/new" component={ModelEditor} />
        <Route path="/models/:id" component={ModelEditor} />
      </Switch>
    </Router>,
  )
  return location
}

it('lists the models with a link to each and to a new one', async () => {
  stubFetch({ 'GET /api/models/': json(page([model(), model({ id: 8, name: 'cnn', parameters: 99 })])) })
  renderAt('/models')
  expect((await screen.findByRole('link', { name: 'cnn' })).getAttribute('href')).toBe('/models/8')
  expect(screen.getByRole('link', { name: 'New model' }).getAttribute('href')).toBe('/models/new')
  const row = screen.getByRole('row', { name: /toy/ })
  expect(within(row).getByText('1,234')).toBeTruthy()
  expect(within(row).getByText('(None, 8)')).toBeTruthy()
})

it('says so when there are no models, and when they cannot be loaded', async () => {
  stubFetch({ 'GET /api/models/': json(page([])) })
  renderAt('/models')
  expect(await screen.findByText(/No models yet/)).toBeTruthy()
  vi.unstubAllGlobals()
  stubFetch({ 'GET /api/models/': json({ detail: 'boom' }, 500) })
  renderAt('/models')
  expect((await screen.findByRole('alert')).textContent).toContain('boom')
})

it('marks the builder error on its line, then saves and shows the summary', async () => {
  const bodies: unknown[] = []
  let attempt = 0
  stubFetch({
    'POST /api/models/': async (_url: URL, _init: unknown, request: Request) => {
      bodies.push(await request.json())
      attempt += 1
      return attempt === 1
        ? json({ source: ['syntax error in the model source, line 2: invalid syntax'], line: 2 }, 400)
        : json(model({ id: 11, name: 'fresh' }), 201)
    },
    'GET /api/models/11/': json(model({ id: 11, name: 'fresh' })),
  })
  const location = renderAt('/models/new')
  await userEvent.type(screen.getByLabelText('Name'), 'fresh')
  await userEvent.type(screen.getByLabelText('Description'), 'first try')
  expect(screen.getByLabelText('Model source').getAttribute('contenteditable')).toBe('true')
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))

  const alert = await screen.findByRole('alert')
  expect(alert.textContent).toContain('Line 2: syntax error')
  const marked = document.querySelectorAll('.cm-error-line')
  expect(marked).toHaveLength(1)
  const lines = [...document.querySelectorAll('.cm-line')]
  expect(lines.indexOf(marked[0]!)).toBe(1) // the second line
  expect(document.querySelector('.cm-error-message')?.textContent).toContain('invalid syntax')
  expect(bodies[0]).toMatchObject({ name: 'fresh', description: 'first try' })
  expect((bodies[0] as { source: string }).source).toContain('keras.Sequential')

  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))
  await waitFor(() => expect(location.history.at(-1)).toBe('/models/11'))
  expect(await screen.findByRole('heading', { name: 'Summary' })).toBeTruthy()
  expect(screen.getByText('1,234 parameters')).toBeTruthy()
  const layers = screen.getByRole('table', { name: 'Layers' })
  expect(within(layers).getAllByRole('row')).toHaveLength(3)
  expect(within(layers).getByText('dense_1')).toBeTruthy()
  expect(within(layers).getByText('(None, 16)')).toBeTruthy()
})

it('checks the name as the user types and shows the backend field errors in place', async () => {
  stubFetch({ 'POST /api/models/': json({ name: ["you already have a model named 'toy'"] }, 400) })
  renderAt('/models/new')
  const name = screen.getByLabelText('Name')
  await userEvent.type(name, 'x')
  await userEvent.clear(name)
  expect(await screen.findByText('Give the model a name.')).toBeTruthy()
  expect(name.getAttribute('aria-invalid')).toBe('true')
  await userEvent.type(name, 'toy')
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))
  const message = await screen.findByText("you already have a model named 'toy'")
  expect(name.getAttribute('aria-describedby')).toContain(message.closest('ul')!.id)
})

it('edits an existing model without resending an unchanged source', async () => {
  const bodies: unknown[] = []
  stubFetch({
    'GET /api/models/7/': json(model()),
    'PATCH /api/models/7/': async (_url: URL, _init: unknown, request: Request) => {
      bodies.push(await request.json())
      return json(model({ name: 'renamed' }))
    },
  })
  renderAt('/models/7')
  const name = await screen.findByLabelText('Name')
  expect(screen.getByRole('heading', { name: 'Summary' })).toBeTruthy()
  await userEvent.clear(name)
  await userEvent.type(name, 'renamed')
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))
  expect(await screen.findByText('Saved.')).toBeTruthy()
  expect(bodies).toEqual([{ name: 'renamed' }])
  expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('renamed')
})

it('asks before deleting and says clearly when the model is in use', async () => {
  let deletes = 0
  stubFetch({
    'GET /api/models/7/': json(model()),
    'DELETE /api/models/7/': () => {
      deletes += 1
      return json({ detail: 'the model is used by configuration(s) toy-config; remove it from them first' }, 409)
    },
  })
  renderAt('/models/7')
  await userEvent.click(await screen.findByRole('button', { name: 'Delete model' }))
  expect(deletes).toBe(0)
  expect(screen.getByText(/This cannot be undone/)).toBeTruthy()
  await userEvent.click(screen.getByRole('button', { name: 'Cancel' }))
  expect(deletes).toBe(0)
  await userEvent.click(screen.getByRole('button', { name: 'Delete model' }))
  await userEvent.click(screen.getByRole('button', { name: 'Yes, delete it' }))
  const alert = await screen.findByRole('alert')
  expect(alert.textContent).toContain('This model is in use: the model is used by configuration(s) toy-config')
  expect(deletes).toBe(1)
})

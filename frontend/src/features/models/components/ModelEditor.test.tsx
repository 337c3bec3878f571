import { act, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeAll, beforeEach, expect, it, vi } from 'vitest'
import { Route, Router, Switch } from 'wouter'
import { memoryLocation } from 'wouter/memory-location'
import { model, page } from '../../../testing/authoring'
import { json, stubFetch } from '../../../testing/fixtures'
import { renderWithQueries } from '../../../testing/route'
import { buildTiming } from './ModelSummary'
import ModelEditor from './ModelEditor'
import Models from './Models'

const savedTiming = { ...buildTiming }
beforeEach(() => Object.assign(buildTiming, { pollMs: 30 }))
afterEach(() => {
  vi.unstubAllGlobals()
  Object.assign(buildTiming, savedTiming)
})

// CodeMirror measures text ranges as the user types; jsdom has no layout, so they measure as empty.
beforeAll(() => {
  Range.prototype.getClientRects = () => [] as unknown as DOMRectList
  Range.prototype.getBoundingClientRect = () => new DOMRect()
})

const building = { status: 'building' as const, parameters: null, input_shape: null, output_shape: null, layers: [] }

function renderAt(path: string) {
  const location = memoryLocation({ path, record: true })
  renderWithQueries(
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

it('shows each build as it goes and asks again only while one is building', async () => {
  let state: 'building' | 'failed' = 'building'
  const { seen } = stubFetch({
    'GET /api/models/': () =>
      json(page([
        model({ id: 9, name: 'slow', ...building, ...(state === 'failed' ? { status: 'failed', error: 'NameError: oops', line: 6 } : {}) }),
        model(),
      ])),
  })
  renderAt('/models')
  const slow = await screen.findByRole('row', { name: /slow/ })
  expect(within(slow).getByText('building…')).toBeTruthy()
  expect(within(slow).getAllByText('–')).toHaveLength(3) // no parameters nor shapes before the build is ready
  expect(within(screen.getByRole('row', { name: /toy/ })).getByText('ready')).toBeTruthy()

  state = 'failed'
  const failed = await within(slow).findByText('failed at line 6')
  expect(failed.getAttribute('title')).toBe('NameError: oops')
  await waitFor(() => expect(seen.length).toBeGreaterThan(1))
  const polls = seen.length
  await pause(200)
  expect(seen.length).toBeLessThanOrEqual(polls + 1) // at most a poll already on its way: then none
  const settled = seen.length
  await pause(200)
  expect(seen.length).toBe(settled)
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

it('marks a syntax error on its line at once, then follows the build to the error on the model', async () => {
  const bodies: unknown[] = []
  let attempt = 0
  let reads = 0
  stubFetch({
    'POST /api/models/': async (_url: URL, _init: unknown, request: Request) => {
      bodies.push(await request.json())
      attempt += 1
      return attempt === 1
        ? json({ source: ['syntax error in the model source, line 2: invalid syntax'], line: 2 }, 400)
        : json(model({ id: 11, name: 'fresh', ...building }), 201)
    },
    'GET /api/models/11/': () => {
      reads += 1
      return json(reads < 3
        ? model({ id: 11, name: 'fresh', ...building })
        : model({ id: 11, name: 'fresh', ...building, status: 'failed', error: 'NameError: oops at line 3', line: 3 }))
    },
  })
  const location = renderAt('/models/new')
  await userEvent.type(screen.getByLabelText('Name'), 'fresh')
  await userEvent.type(screen.getByLabelText('Description'), 'first try')
  expect(screen.getByLabelText('Model source').getAttribute('contenteditable')).toBe('true')
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))

  const alert = await screen.findByRole('alert')
  expect(alert.textContent).toContain('Line 2: syntax error')
  expect(markedLine()).toBe(1) // the second line
  expect(document.querySelector('.cm-error-message')?.textContent).toContain('invalid syntax')
  expect(bodies[0]).toMatchObject({ name: 'fresh', description: 'first try' })
  expect((bodies[0] as { source: string }).source).toContain('keras.Sequential')

  // Saved: the model is built in the background; the page follows it to the builder's error.
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))
  await waitFor(() => expect(location.history.at(-1)).toBe('/models/11'))
  expect((await screen.findByRole('status')).textContent).toContain('Building the model')
  expect(screen.getByRole('button', { name: 'Save model' }).hasAttribute('disabled')).toBe(true)
  expect(screen.queryByRole('heading', { name: 'Summary' })).toBeNull()
  expect(await screen.findByText('failed at line 3')).toBeTruthy()
  expect(screen.getByRole('alert').textContent).toContain('Line 3: NameError: oops')
  expect(markedLine()).toBe(2) // the third line
  expect(screen.queryByRole('heading', { name: 'Summary' })).toBeNull()
  expect(screen.getByRole('button', { name: 'Save model' }).hasAttribute('disabled')).toBe(false)
})

it('rebuilds an edited source and shows the summary once the build is ready', async () => {
  const bodies: unknown[] = []
  let state: 'failed' | 'building' | 'ready' = 'failed'
  const current = () =>
    state === 'ready'
      ? model({ id: 11, name: 'fresh' })
      : model({ id: 11, name: 'fresh', ...building, ...(state === 'failed' ? { status: 'failed', error: 'NameError: oops', line: 3 } : {}) })
  stubFetch({
    'GET /api/models/11/': () => json(current()),
    'PATCH /api/models/11/': async (_url: URL, _init: unknown, request: Request) => {
      bodies.push(await request.json())
      state = 'building'
      setTimeout(() => (state = 'ready'), 100)
      return json(current())
    },
  })
  renderAt('/models/11')
  expect(await screen.findByText('failed at line 3')).toBeTruthy()
  expect(markedLine()).toBe(2)
  await userEvent.type(screen.getByLabelText('Model source'), '# fixed')
  await userEvent.click(screen.getByRole('button', { name: 'Save model' }))
  expect(bodies).toHaveLength(1)
  expect(Object.keys(bodies[0] as object)).toEqual(['source'])
  expect((bodies[0] as { source: string }).source).toContain('# fixed')
  expect(await screen.findByText('building…')).toBeTruthy()
  expect(await screen.findByRole('heading', { name: 'Summary' })).toBeTruthy()
  expect(screen.getByText('ready')).toBeTruthy()
  expect(screen.getByText('1,234 parameters')).toBeTruthy()
  const layers = screen.getByRole('table', { name: 'Layers' })
  expect(within(layers).getAllByRole('row')).toHaveLength(3)
  expect(within(layers).getByText('dense_1')).toBeTruthy()
  expect(within(layers).getByText('(None, 16)')).toBeTruthy()
  expect(document.querySelector('.cm-error-line')).toBeNull()
})

/** Let `ms` pass with the page updating as it would (polls landing). */
async function pause(ms: number): Promise<void> {
  await act(() => new Promise((resolve) => setTimeout(resolve, ms)))
}

/** The index of the line the editor marks as the error's (0-based), or -1. */
function markedLine(): number {
  const marked = document.querySelectorAll('.cm-error-line')
  expect(marked).toHaveLength(1)
  return [...document.querySelectorAll('.cm-line')].indexOf(marked[0]!)
}

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

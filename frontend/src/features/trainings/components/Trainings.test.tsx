import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { json, result, stubFetch } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import { timing } from '../lib/training'
import Trainings from './Trainings'

const saved = { ...timing }
beforeEach(() => Object.assign(timing, { listMs: 30 }))
afterEach(() => {
  vi.unstubAllGlobals()
  Object.assign(timing, saved)
})

const page = (results: ReturnType<typeof result>[], count = results.length) => ({ count, next: null, previous: null, results })

it('lists the trainings with links, filters by status and polls while one runs', async () => {
  let status: 'running' | 'finished' = 'running'
  const { seen } = stubFetch({
    'GET /api/results/': (url: URL) => {
      if (url.searchParams.get('status') === 'failed') return json(page([]))
      return json(page([
        result({ id: 9, status, rounds_done: 4 }),
        result({ id: 8, model_name: '', status: 'finished', contract_address: '', explorer_url: null, rounds_done: 10 }),
      ], 2))
    },
  })
  renderAt('/trainings', '/trainings', Trainings)
  const link = await screen.findByRole('link', { name: 'mnist-cnn' })
  expect(link.getAttribute('href')).toBe('/trainings/9')
  expect(screen.getByRole('link', { name: 'Training 8' }).getAttribute('href')).toBe('/trainings/8')
  const rows = within(screen.getByRole('table')).getAllByRole('row')
  expect(within(rows[1]!).getByText('running')).toBeTruthy()
  expect(within(rows[1]!).getByText('blockchain')).toBeTruthy()
  expect(within(rows[2]!).getByText('classic')).toBeTruthy()

  status = 'finished'
  await waitFor(() => expect(within(screen.getByRole('table')).getAllByText('finished')).toHaveLength(2))
  await new Promise((resolve) => setTimeout(resolve, 150)) // a poll sent before the page saw "finished" lands
  const polls = seen.length
  await new Promise((resolve) => setTimeout(resolve, 300))
  expect(seen.length).toBe(polls) // nothing runs any more: no polling

  await userEvent.selectOptions(screen.getByLabelText('Status'), 'failed')
  expect(await screen.findByText('No training matches this filter.')).toBeTruthy()
  expect(seen.at(-1)).toBe('GET /api/results/?limit=50&offset=0&status=failed')
})

it('pages through many trainings', async () => {
  const { seen } = stubFetch({
    'GET /api/results/': (url: URL) => json(page([result({ id: 1000 - Number(url.searchParams.get('offset')), status: 'finished' })], 120)),
  })
  renderAt('/trainings', '/trainings', Trainings)
  expect(await screen.findByText('Page 1 of 3')).toBeTruthy()
  await userEvent.click(screen.getByRole('button', { name: 'Next' }))
  expect(await screen.findByText('Training 950')).toBeTruthy()
  expect(seen).toContain('GET /api/results/?limit=50&offset=50')
})

it('has an empty state and an error state', async () => {
  stubFetch({ 'GET /api/results/': page([]) })
  const view = renderAt('/trainings', '/trainings', Trainings)
  expect(await screen.findByText(/No training yet/)).toBeTruthy()
  view.unmount()
  vi.unstubAllGlobals()
  stubFetch({ 'GET /api/results/': json({ detail: 'boom' }, 500) })
  renderAt('/trainings', '/trainings', Trainings)
  expect((await screen.findByRole('alert')).textContent).toContain('boom')
})

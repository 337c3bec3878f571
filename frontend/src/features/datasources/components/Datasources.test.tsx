import { screen, within } from '@testing-library/react'
import { afterEach, expect, it, vi } from 'vitest'
import { json, stubFetch } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import Datasources from './Datasources'

afterEach(() => vi.unstubAllGlobals())

const datasource = {
  id: 1, datasource_id: 'mnist-a', topic: 'mnist-a-data', format: 'RAW', description: 'MNIST, client A',
  counts: { train: 8000, validation: 1000, test: 1000 }, input_shape: [28, 28, 1], classes: 10,
  sha256: 'c'.repeat(64), control_topic: 'control', control_partition: 0, control_offset: 42, message: {},
  created_at: '2025-01-01T12:00:00Z',
}

it('lists the datasources and the rejected control records', async () => {
  stubFetch({
    'GET /api/datasources/': { count: 1, next: null, previous: null, results: [datasource] },
    'GET /api/datasources/rejected/': {
      count: 1, next: null, previous: null,
      results: [{
        id: 3, control_topic: 'control', control_partition: 1, control_offset: 7, reason: 'counts do not match the offsets',
        size: 409600, sha256: 'd'.repeat(64), excerpt: '{"kind": "data_control"', created_at: '2025-01-01T12:00:00Z',
      }],
    },
  })
  renderAt('/datasources', '/datasources', Datasources)
  const registered = await screen.findByRole('region', { name: 'Registered' })
  const row = within(await within(registered).findByRole('table')).getAllByRole('row')[1]!
  expect(within(row).getByText('mnist-a')).toBeTruthy()
  expect(within(row).getByText('mnist-a-data')).toBeTruthy()
  expect(within(row).getByText('train 8,000 · validation 1,000 · test 1,000')).toBeTruthy()
  expect(within(row).getByText('28 × 28 × 1')).toBeTruthy()
  expect(within(row).getByText('10')).toBeTruthy()
  expect(within(row).getByText('c'.repeat(64))).toBeTruthy()
  expect(within(row).getByText('control[0] @42')).toBeTruthy()
  const rejected = screen.getByRole('region', { name: 'Rejected control records' })
  expect(await within(rejected).findByText('counts do not match the offsets')).toBeTruthy()
  expect(within(rejected).getByText('control[1] @7')).toBeTruthy()
  expect(within(rejected).getByText('409,600')).toBeTruthy()
  expect(within(rejected).getByText('{"kind": "data_control"')).toBeTruthy()
  expect(within(rejected).getByText('d'.repeat(64))).toBeTruthy()
})

it('has empty and error states for each list', async () => {
  stubFetch({
    'GET /api/datasources/': { count: 0, next: null, previous: null, results: [] },
    'GET /api/datasources/rejected/': json({ detail: 'You do not have permission to perform this action.' }, 403),
  })
  renderAt('/datasources', '/datasources', Datasources)
  expect(await screen.findByText(/No datasource registered yet/)).toBeTruthy()
  const rejected = screen.getByRole('region', { name: 'Rejected control records' })
  expect((await within(rejected).findByRole('alert')).textContent).toContain('permission')
})

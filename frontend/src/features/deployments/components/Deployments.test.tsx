import { screen, waitFor, within } from '@testing-library/react'
import { afterEach, expect, it, vi } from 'vitest'
import { configuration, deployment, datasource, page } from '../../../testing/authoring'
import { json, result, stubFetch } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import Deployments from './Deployments'

afterEach(() => vi.unstubAllGlobals())

it('lists deployments with their settings and links to their trainings', async () => {
  stubFetch({
    'GET /api/deployments/': json(page([deployment(), deployment({ id: 5, results: [], settings: {}, clients: {} })])),
    'GET /api/configurations/': json(page([configuration()])),
    'GET /api/datasources/': json(page([datasource()])),
    'GET /api/results/': json(page([result({ id: 9, model_name: 'toy', status: 'finished' })])),
  })
  renderAt('/deployments', '/deployments', Deployments)
  const row = await screen.findByRole('row', { name: /#3/ })
  expect(within(row).getByRole('link', { name: 'toy (training 9)' }).getAttribute('href')).toBe('/trainings/9')
  expect(within(row).getByText('finished')).toBeTruthy()
  expect(within(row).getByText('Strategy: fedbuff (updates 2)')).toBeTruthy()
  expect(within(row).getByText(/12 rounds, 2 epochs each, batch 16/)).toBeTruthy()
  expect(within(row).getByText(/tiered, base 1 tokens, budget 50 tokens/)).toBeTruthy()
  expect(within(row).getByText('toy-config')).toBeTruthy()
  expect(within(row).getByText('toy-validation')).toBeTruthy()
  await waitFor(() => expect(within(screen.getByRole('row', { name: /#5/ })).getAllByText('none')).toHaveLength(2))
})

it('shows the empty state of deployments', async () => {
  stubFetch({
    'GET /api/deployments/': json(page([])),
    'GET /api/configurations/': json(page([])),
    'GET /api/datasources/': json(page([])),
    'GET /api/results/': json(page([])),
  })
  renderAt('/deployments', '/deployments', Deployments)
  expect(await screen.findByText(/Nothing deployed yet/)).toBeTruthy()
})

import { screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, expect, it, vi } from 'vitest'
import { configuration, model, page } from '../../../testing/authoring'
import { json, stubFetch } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import Configurations from './Configurations'

afterEach(() => vi.unstubAllGlobals())

const models = page([model(), model({ id: 8, name: 'cnn' })])
it('lists configurations with their models, deployments and a Deploy link', async () => {
  stubFetch({
    'GET /api/configurations/': json(page([configuration({ ml_models: [7, 8], deployments: [3] })])),
    'GET /api/models/': json(models),
  })
  renderAt('/configurations', '/configurations', Configurations)
  const row = await screen.findByRole('row', { name: /toy-config/ })
  expect(within(row).getByRole('link', { name: 'toy' }).getAttribute('href')).toBe('/models/7')
  expect(within(row).getByRole('link', { name: 'cnn' }).getAttribute('href')).toBe('/models/8')
  expect(within(row).getByRole('link', { name: 'Deploy' }).getAttribute('href')).toBe('/deployments/new?configuration=4')
  expect(within(row).getByRole('link', { name: '#3' })).toBeTruthy()
})

it('creates a configuration from checked models, checking as the user types', async () => {
  const bodies: unknown[] = []
  let created = false
  stubFetch({
    'GET /api/configurations/': () => json(page(created ? [configuration({ name: 'pair' })] : [])),
    'GET /api/models/': json(models),
    'POST /api/configurations/': async (_url: URL, _init: unknown, request: Request) => {
      bodies.push(await request.json())
      if (bodies.length === 1) return json({ name: ['already taken'] }, 400)
      created = true
      return json(configuration({ name: 'pair' }), 201)
    },
  })
  renderAt('/configurations', '/configurations', Configurations)
  expect(await screen.findByText(/No configurations yet/)).toBeTruthy()
  await userEvent.click(screen.getByRole('button', { name: 'New configuration' }))
  await userEvent.type(screen.getByLabelText('Name'), 'pair')
  await userEvent.click(screen.getByRole('button', { name: 'Create configuration' }))
  expect(screen.getByText('Choose at least one model.')).toBeTruthy()
  expect(bodies).toHaveLength(0)
  await userEvent.click(screen.getByLabelText('cnn'))
  expect(screen.queryByText('Choose at least one model.')).toBeNull()
  await userEvent.click(screen.getByRole('button', { name: 'Create configuration' }))
  expect(await screen.findByText('already taken')).toBeTruthy()
  expect(screen.getByLabelText('Name').getAttribute('aria-invalid')).toBe('true')
  await userEvent.click(screen.getByLabelText('toy'))
  await userEvent.click(screen.getByRole('button', { name: 'Create configuration' }))
  expect(await screen.findByRole('row', { name: /pair/ })).toBeTruthy()
  expect(bodies[1]).toEqual({ name: 'pair', description: '', ml_models: [8, 7] })
  expect(screen.getByRole('status').textContent).toBe('Configuration pair created.')
})

it('offers only models whose build is ready', async () => {
  stubFetch({
    'GET /api/configurations/': json(page([])),
    'GET /api/models/': json(page([
      model(),
      model({ id: 8, name: 'slow', status: 'building', parameters: null, layers: [] }),
      model({ id: 9, name: 'broken', status: 'failed', error: 'NameError', line: 2, parameters: null, layers: [] }),
    ])),
  })
  renderAt('/configurations', '/configurations', Configurations)
  await userEvent.click(await screen.findByRole('button', { name: 'New configuration' }))
  expect((screen.getByLabelText('toy') as HTMLInputElement).disabled).toBe(false)
  expect((screen.getByLabelText('slow (being built)') as HTMLInputElement).disabled).toBe(true)
  expect((screen.getByLabelText('broken (its build failed)') as HTMLInputElement).disabled).toBe(true)
})

it('asks before deleting and explains a 409', async () => {
  let deletes = 0
  stubFetch({
    'GET /api/configurations/': json(page([configuration({ deployments: [3] })])),
    'GET /api/models/': json(models),
    'DELETE /api/configurations/4/': () => {
      deletes += 1
      return json({ detail: 'the configuration has deployments; delete them first' }, 409)
    },
  })
  renderAt('/configurations', '/configurations', Configurations)
  await userEvent.click(await screen.findByRole('button', { name: 'Delete toy-config' }))
  expect(deletes).toBe(0)
  await userEvent.click(screen.getByRole('button', { name: 'Yes, delete' }))
  const alert = await screen.findByRole('alert')
  expect(alert.textContent).toContain('toy-config is in use: the configuration has deployments')
  expect(deletes).toBe(1)
})

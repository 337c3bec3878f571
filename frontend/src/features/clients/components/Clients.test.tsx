import { screen, within } from '@testing-library/react'
import { afterEach, expect, it, vi } from 'vitest'
import { CLIENTS, json, stubFetch, units } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import Clients from './Clients'

afterEach(() => vi.unstubAllGlobals())

const participation = (result: number, accepted: number, earned: number) => ({
  result, model_name: 'mnist-cnn', status: 'finished', contract_address: '0x' + 'e'.repeat(40), sample_ceiling: 500,
  accepted, rejected: 1, earned: units(earned),
})

function clients(balance: string | null, chainError = '') {
  return {
    chain_error: chainError,
    clients: [
      { client: CLIENTS[0], trainings: [participation(9, 3, 1.5), participation(8, 2, 1)], accepted: 5, rejected: 2, earned: units(2.5), balance },
      { client: CLIENTS[1], trainings: [participation(9, 4, 4)], accepted: 4, rejected: 1, earned: units(4), balance },
    ],
  }
}

it('shows each client’s totals, balance and participations', async () => {
  stubFetch({ 'GET /api/clients/': clients(units(7.25)) })
  renderAt('/clients', '/clients', Clients)
  const totals = await screen.findByRole('region', { name: 'Totals' })
  const first = within(totals).getAllByRole('row')[1]!
  expect(within(first).getByText(CLIENTS[0]!)).toBeTruthy()
  expect(within(first).getByText('2.5000')).toBeTruthy()
  expect(within(first).getByText('7.2500')).toBeTruthy()
  const participations = screen.getByRole('region', { name: 'Participations' })
  expect(within(participations).getAllByRole('row')).toHaveLength(4)
  const links = within(participations).getAllByRole('link', { name: 'mnist-cnn' })
  expect(links.map((link) => link.getAttribute('href'))).toEqual(['/trainings/9', '/trainings/8', '/trainings/9'])
  expect(screen.queryByRole('alert')).toBeNull()
})

it('says why balances are missing when the chain cannot be read', async () => {
  stubFetch({ 'GET /api/clients/': clients(null, 'the chain cannot be read: connection refused') })
  renderAt('/clients', '/clients', Clients)
  expect((await screen.findByRole('alert')).textContent).toContain('connection refused')
  const first = within(screen.getByRole('region', { name: 'Totals' })).getAllByRole('row')[1]!
  expect(within(first).getByText('–')).toBeTruthy()
})

it('has an empty state and an error state', async () => {
  stubFetch({ 'GET /api/clients/': { clients: [], chain_error: '' } })
  const view = renderAt('/clients', '/clients', Clients)
  expect(await screen.findByText(/No client yet/)).toBeTruthy()
  view.unmount()
  vi.unstubAllGlobals()
  stubFetch({ 'GET /api/clients/': json({ detail: 'Authentication credentials were not provided.' }, 403) })
  renderAt('/clients', '/clients', Clients)
  expect((await screen.findByRole('alert')).textContent).toContain('Authentication credentials')
})

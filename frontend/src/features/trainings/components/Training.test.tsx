import { act, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { resetCsrf } from '../../../api/client'
import { chain, CLIENTS, json, result, round, stubFetch, stubResizeObserver } from '../../../testing/fixtures'
import { seriousViolations } from '../../../testing/axe'
import { renderAt } from '../../../testing/route'
import { timing } from '../lib/training'
import Training from './Training'

const saved = { ...timing }

beforeEach(() => {
  stubResizeObserver()
  Object.assign(timing, { roundsMs: 30, resultMs: 40, chainMs: 60 })
})

afterEach(() => {
  vi.unstubAllGlobals()
  Object.assign(timing, saved)
  resetCsrf()
})

function section(name: string) {
  return screen.getByRole('region', { name })
}

describe('Training page', () => {
  it('appends a round returned by a later poll, without remounting, then stops polling when finished', async () => {
    let status: 'running' | 'finished' = 'running'
    const served = [round(1), round(2)]
    const { seen } = stubFetch({
      'GET /api/results/7/': () => json(result({ status, rounds_done: served.length, model_sha256: status === 'finished' ? 'f'.repeat(64) : '' })),
      'GET /api/results/7/rounds/': (url: URL) => {
        const after = Number(url.searchParams.get('after') ?? 0)
        return json(served.filter((r) => r.version > after))
      },
      'GET /api/results/7/chain/': () => json(chain()),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)

    expect(await screen.findByRole('heading', { level: 1, name: /mnist-cnn/ })).toBeTruthy()
    const validation = await waitFor(() => section('Validation'))
    const table = await within(validation).findByRole('table')
    await within(table).findByText('v2')
    const heading = screen.getByRole('heading', { level: 1 })
    expect(screen.getByRole('button', { name: 'Stop' })).toBeTruthy()
    expect(screen.queryByRole('link', { name: 'Download model' })).toBeNull()

    served.push(round(3, { reject: true }))
    await within(table).findByText('v3', {}, { timeout: 2000 })
    expect(screen.getByRole('heading', { level: 1 })).toBe(heading) // same element: no remount
    expect(seen.some((request) => request === 'GET /api/results/7/rounds/?after=2')).toBe(true)
    expect(within(section('Updates')).getAllByText('loss above the reject ratio').length).toBeGreaterThan(0)

    status = 'finished'
    const download = await screen.findByRole('link', { name: 'Download model' }, { timeout: 2000 })
    expect(download.getAttribute('href')).toBe('/api/results/7/model/')
    expect(screen.getByText('f'.repeat(64))).toBeTruthy()
    expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull()
    await waitFor(() => expect(document.querySelector('[data-ready="true"]')).not.toBeNull())

    // A poll already on its way when the status flipped may still land; after that, none: ten
    // polling intervals (30 ms here) pass without a request.
    const roundPolls = () => seen.filter((request) => request.startsWith('GET /api/results/7/rounds/')).length
    await act(() => new Promise((resolve) => setTimeout(resolve, 150)))
    const polls = roundPolls()
    await act(() => new Promise((resolve) => setTimeout(resolve, 300)))
    expect(roundPolls()).toBe(polls)
  })

  it('shows tokens from the chain, transactions with explorer links, and the lineage link', async () => {
    stubFetch({
      'GET /api/results/7/': result({ status: 'finished', model_sha256: 'a'.repeat(64) }),
      'GET /api/results/7/rounds/': [round(1), round(2)],
      'GET /api/results/7/chain/': chain(),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)

    const tokens = await screen.findByRole('region', { name: 'Tokens' })
    const rows = within(tokens).getAllByRole('row')
    expect(rows).toHaveLength(3) // header + 2 clients
    expect(within(rows[2]!).getByText('6.0000')).toBeTruthy() // earned
    expect(within(rows[2]!).getAllByText('2.0000')).toHaveLength(2) // paid and balance
    expect(within(tokens).getByText(/As the training’s contract records them/)).toBeTruthy()

    const transactions = section('Transactions')
    const links = within(transactions).getAllByRole('link')
    expect(links.map((link) => link.getAttribute('href'))).toEqual([
      `http://explorer.test/tx/0x${(5002).toString(16).padStart(64, '0')}`,
      `http://explorer.test/tx/0x${(5001).toString(16).padStart(64, '0')}`,
    ])
    expect(within(transactions).getByText(/200,003 gas in total/)).toBeTruthy()
    expect(screen.getByRole('link', { name: 'Lineage and audit' }).getAttribute('href')).toBe('/trainings/7/lineage')
    expect(section('Elapsed time per round')).toBeTruthy()
    expect(within(section('Validation')).getByText(/Validation accuracy 51.0 % at v1/)).toBeTruthy()
    expect(screen.getByText('finished')).toBeTruthy()
    expect(await seriousViolations(document.body)).toEqual([])
  })

  it('falls back to the rounds’ rewards when the chain cannot be read, and hides transactions in classic mode', async () => {
    stubFetch({
      'GET /api/results/7/': result({ status: 'finished', contract_address: '', explorer_url: null }),
      'GET /api/results/7/rounds/': [round(1, { tx: false }), round(2, { tx: false })],
      'GET /api/results/7/chain/': json({ detail: ['this training has no contract (classic mode)'] }, 400),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    const tokens = await screen.findByRole('region', { name: 'Tokens' })
    expect(within(tokens).getByText(/Summed from the rewards the rounds report/)).toBeTruthy()
    expect(within(tokens).getByText('4.0000')).toBeTruthy() // 2 tokens per round for the second client
    expect(within(tokens).queryByText(/cannot be read/)).toBeNull()
    expect(screen.queryByRole('region', { name: 'Transactions' })).toBeNull()
  })

  it('shows the privacy each round spent, only for a training with differential privacy', async () => {
    const privacy = (rounds: number, epsilon: number) => ({
      epsilon, delta: 1e-5, noise_multiplier: 1, clip: 0.1, rounds, noise_std: 0.05, seed: 'cd'.repeat(32), accountant: 'rdp',
    })
    stubFetch({
      'GET /api/results/7/': result({ status: 'finished' }),
      'GET /api/results/7/rounds/': [round(1, { privacy: privacy(1, 4.7285) }), round(2, { privacy: privacy(2, 6.9) })],
      'GET /api/results/7/chain/': json(chain()),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    const validation = await waitFor(() => section('Validation'))
    const table = await within(validation).findByRole('table')
    expect(within(table).getByRole('columnheader', { name: 'Privacy ε' })).toBeTruthy()
    expect(within(table).getByText('4.73')).toBeTruthy()
    expect(within(validation).getByText(/ε = 6\.90 at δ = 0\.00001 after 2 rounds/)).toBeTruthy()
  })

  it('says so when the chain of a blockchain training cannot be read', async () => {
    stubFetch({
      'GET /api/results/7/': result({ status: 'finished' }),
      'GET /api/results/7/rounds/': [round(1)],
      'GET /api/results/7/chain/': json({ detail: 'the chain cannot be read: connection refused' }, 503),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    const tokens = await screen.findByRole('region', { name: 'Tokens' })
    expect(await within(tokens).findByText(/connection refused/)).toBeTruthy()
    expect(within(tokens).getByText(/Summed from the rewards/)).toBeTruthy()
  })

  it('filters and pages the updates of a long training', async () => {
    const eight = [...CLIENTS, ...[3, 4, 5, 6, 7].map((n) => '0x' + String(n).repeat(40))]
    stubFetch({
      'GET /api/results/7/': result({ status: 'finished' }),
      'GET /api/results/7/rounds/': Array.from({ length: 32 }, (_, index) => round(index + 1, { clients: eight })),
      'GET /api/results/7/chain/': chain(),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    const updates = await screen.findByRole('region', { name: 'Updates' })
    const table = within(updates).getAllByRole('table')[1]!
    expect(within(table).getAllByRole('row')).toHaveLength(25) // header + one page of 24 of the 256 updates
    expect(within(updates).getByText('Page 1 of 11')).toBeTruthy()
    await userEvent.selectOptions(within(updates).getByLabelText('Client'), CLIENTS[2]!)
    expect(within(updates).getByText('32 updates')).toBeTruthy()
    expect(within(table).getAllByRole('row')).toHaveLength(25)
    await userEvent.click(within(updates).getByRole('button', { name: 'Next' }))
    expect(within(updates).getByText('Page 2 of 2')).toBeTruthy()
    expect(within(table).getAllByRole('row')).toHaveLength(9)
  })

  it('asks before stopping, then stops', async () => {
    let stopped = false
    const { seen } = stubFetch({
      'GET /api/results/7/': () => json(result({ status: stopped ? 'stopped' : 'running' })),
      'GET /api/results/7/rounds/': [],
      'GET /api/results/7/chain/': chain(),
      'POST /api/results/7/stop/': () => {
        stopped = true
        return json({ stopped: ['aggregator-7'] })
      },
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    await userEvent.click(await screen.findByRole('button', { name: 'Stop' }))
    await userEvent.click(screen.getByRole('button', { name: 'Cancel' }))
    expect(seen).not.toContain('POST /api/results/7/stop/')
    await userEvent.click(screen.getByRole('button', { name: 'Stop' }))
    await userEvent.click(screen.getByRole('button', { name: 'Yes, stop it' }))
    await screen.findByText('stopped')
    expect(seen).toContain('POST /api/results/7/stop/')
    expect(screen.queryByRole('button', { name: 'Stop' })).toBeNull()
    expect(within(section('Validation')).getByText(/No round has been reported yet/)).toBeTruthy()
  })

  it('shows an error, not a stack trace, when the training cannot be loaded', async () => {
    stubFetch({ 'GET /api/results/7/': json({ detail: 'Not found.' }, 404) })
    renderAt('/trainings/7', '/trainings/:id', Training)
    expect((await screen.findByRole('alert')).textContent).toContain('Not found.')
    expect(screen.getByRole('button', { name: 'Try again' })).toBeTruthy()
  })
})

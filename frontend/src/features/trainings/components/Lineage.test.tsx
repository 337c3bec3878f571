import { screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, expect, it, vi } from 'vitest'
import { resetCsrf, type Audit } from '../../../api/client'
import { audit, hex, json, result, round, stubFetch } from '../../../testing/fixtures'
import { seriousViolations } from '../../../testing/axe'
import { renderAt } from '../../../testing/route'
import { timing } from '../lib/training'
import Lineage from './Lineage'

const saved = { ...timing }
beforeEach(() => Object.assign(timing, { auditMs: 20, resultMs: 40, roundsMs: 30 }))
afterEach(() => {
  vi.unstubAllGlobals()
  Object.assign(timing, saved)
  resetCsrf()
})

const check = (version: number, ok: boolean) => ({
  version, ok, updates: 2, recorded: '0x' + hex(1000 + version), recomputed: '0x' + hex(ok ? 1000 + version : 9),
  problem: ok ? '' : 'recomputed hash 0000000000000009… differs from the recorded 00000000000003ea…',
})

/** An audit that runs for two polls, then ends with `report`. */
function auditServer(finalStatus: Audit['status'], report: unknown) {
  let audits: Audit[] = []
  let polls = 0
  const routes = {
    'GET /api/results/7/': result({ status: 'finished' }),
    'GET /api/results/7/rounds/': [round(1), round(2, { reject: true }), round(3)],
    'GET /api/results/7/audits/': () => {
      if (audits.length && ++polls > 2) audits = [{ ...audits[0]!, status: finalStatus, report, finished_at: '2025-01-01T12:11:00Z' }]
      return json(audits)
    },
    'POST /api/results/7/audits/': () => {
      audits = [audit({ id: 4 })]
      return json(audits[0], 201)
    },
  }
  return stubFetch(routes)
}

it('shows each version’s hash, Kafka pointer, updates and transaction', async () => {
  stubFetch({
    'GET /api/results/7/': result({ status: 'finished' }),
    'GET /api/results/7/rounds/': [round(1), round(2, { reject: true })],
    'GET /api/results/7/audits/': [],
  })
  renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  const table = await screen.findByRole('table')
  const rows = within(table).getAllByRole('row')
  expect(rows).toHaveLength(3)
  const second = rows[2]!
  expect(within(second).getByText('v2')).toBeTruthy()
  expect(within(second).getByText(hex(1002))).toBeTruthy() // the version's hash, whole for screen readers
  expect(within(second).getByText('kafkaml-weights-7[0] 6–9')).toBeTruthy()
  expect(within(second).getByText(hex(200))).toBeTruthy() // an update's hash
  expect(within(second).getByText('rejected')).toBeTruthy()
  expect(within(second).getByText(/loss above the reject ratio/)).toBeTruthy()
  const tx = within(second).getByRole('link')
  expect(tx.getAttribute('href')).toBe(`http://explorer.test/tx/0x${hex(5002)}`)
  await waitFor(() => expect(screen.getByRole('status').textContent).toContain('Not verified yet.'))
  expect(screen.getByRole('link', { name: 'Back to the training' }).getAttribute('href')).toBe('/trainings/7')
})

it('Verify runs the audit, follows it and says all versions are identical', async () => {
  const { seen } = auditServer('passed', { ok: true, first_mismatch: null, checks: [1, 2, 3].map((v) => check(v, true)) })
  renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  const verify = await screen.findByRole('button', { name: 'Verify' })
  await waitFor(() => expect((verify as HTMLButtonElement).disabled).toBe(false))
  await userEvent.click(verify)
  await waitFor(() => expect(screen.getByRole('status').textContent).toMatch(/Verifying/))
  expect((screen.getByRole('button', { name: 'Verify' }) as HTMLButtonElement).disabled).toBe(true)
  await waitFor(() => expect(screen.getByRole('status').textContent).toContain('All 3 versions identical'), { timeout: 2000 })
  expect(seen).toContain('POST /api/results/7/audits/')
  expect(within(screen.getByRole('table')).getAllByText('identical')).toHaveLength(3)
  expect(await seriousViolations(document.body)).toEqual([])
})

it('Verify shows the first mismatch and marks the versions', async () => {
  auditServer('failed', { ok: false, first_mismatch: 2, checks: [check(1, true), check(2, false)] })
  renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  const verify = await screen.findByRole('button', { name: 'Verify' })
  await waitFor(() => expect((verify as HTMLButtonElement).disabled).toBe(false))
  await userEvent.click(verify)
  await waitFor(() => expect(screen.getByRole('status').textContent).toContain('First mismatch at version 2'), { timeout: 2000 })
  const rows = within(screen.getByRole('table')).getAllByRole('row')
  expect(within(rows[1]!).getByText('identical')).toBeTruthy()
  expect(within(rows[2]!).getByText('mismatch')).toBeTruthy()
  expect(within(rows[2]!).getByText(/differs from the recorded/)).toBeTruthy()
  expect(within(rows[3]!).getByText('not checked')).toBeTruthy()
})

it('shows why an audit could not start, and cannot verify a classic training', async () => {
  stubFetch({
    'GET /api/results/7/': result({ status: 'finished' }),
    'GET /api/results/7/rounds/': [round(1)],
    'GET /api/results/7/audits/': [],
    'POST /api/results/7/audits/': json({ detail: 'an audit of this training is running already' }, 409),
  })
  const view = renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  const verify = await screen.findByRole('button', { name: 'Verify' })
  await waitFor(() => expect((verify as HTMLButtonElement).disabled).toBe(false))
  await userEvent.click(verify)
  expect((await screen.findByRole('alert')).textContent).toContain('running already')
  view.unmount()

  vi.unstubAllGlobals()
  stubFetch({
    'GET /api/results/7/': result({ status: 'finished', contract_address: '', explorer_url: null }),
    'GET /api/results/7/rounds/': [round(1, { tx: false })],
    'GET /api/results/7/audits/': [],
  })
  renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  await screen.findByRole('table')
  expect((screen.getByRole('button', { name: 'Verify' }) as HTMLButtonElement).disabled).toBe(true)
  expect(screen.getByText(/Only a blockchain training can be verified/)).toBeTruthy()
})

it('shows the newest audit’s verdict on arrival', async () => {
  stubFetch({
    'GET /api/results/7/': result({ status: 'finished' }),
    'GET /api/results/7/rounds/': [round(1)],
    'GET /api/results/7/audits/': [
      audit({ id: 2, status: 'error', report: { ok: false, error: 'the chain cannot be read', checks: [] } }),
      audit({ id: 1, status: 'passed', report: { ok: true, checks: [check(1, true)] } }),
    ],
  })
  renderAt('/trainings/7/lineage', '/trainings/:id/lineage', Lineage)
  await waitFor(() => expect(screen.getByRole('status').textContent).toContain('The audit could not run'))
  expect(screen.getByRole('status').textContent).toContain('the chain cannot be read')
})

import { describe, expect, it } from 'vitest'
import { audit, chain, CLIENTS, round, units } from '../../../testing/fixtures'
import {
  auditChecks,
  auditVerdict,
  clientStats,
  chartSeries,
  elapsedSummary,
  epsilonText,
  privacySummary,
  roundDurations,
  explorerBase,
  isActive,
  lastVersion,
  mergeRounds,
  newestAudit,
  pageOf,
  pageUpdateRows,
  pointerText,
  sumUnits,
  timelinePoints,
  tokenRows,
  tokenSummary,
  transactions,
  transactionUrl,
  updateRows,
  validationSummary,
} from './training'

describe('mergeRounds', () => {
  it('appends newer rounds in version order', () => {
    const merged = mergeRounds([round(1), round(2)], [round(4), round(3)])
    expect(merged.map((r) => r.version)).toEqual([1, 2, 3, 4])
  })

  it('keeps each version once, the newer copy winning', () => {
    const late = { ...round(2), elapsed_s: 99 }
    const merged = mergeRounds([round(1), round(2), round(3)], [late, round(3)])
    expect(merged.map((r) => r.version)).toEqual([1, 2, 3])
    expect(merged[1]?.elapsed_s).toBe(99)
  })

  it('returns the same array when nothing arrived (memoized views stay put)', () => {
    const existing = [round(1)]
    expect(mergeRounds(existing, [])).toBe(existing)
  })

  it('starts from nothing', () => {
    expect(mergeRounds([], [round(2), round(1)]).map((r) => r.version)).toEqual([1, 2])
    expect(lastVersion([])).toBeNull()
    expect(lastVersion([round(1), round(5)])).toBe(5)
  })
})

it('knows which statuses are live', () => {
  expect(isActive('running')).toBe(true)
  expect(isActive('created')).toBe(true)
  expect(isActive('finished')).toBe(false)
  expect(isActive(undefined)).toBe(false)
})

it('sums token base units exactly', () => {
  expect(sumUnits(['1000000000000000001', '999999999999999999', null, 'x'])).toBe('2000000000000000000')
  expect(sumUnits([])).toBe('0')
})

describe('updates per client', () => {
  const rounds = [round(1), round(2, { reject: true }), round(3, { clients: CLIENTS })]

  it('counts accepted and rejected updates, staleness and rewards', () => {
    const stats = clientStats(rounds)
    expect(stats.map((s) => s.client)).toEqual(CLIENTS)
    const second = stats[1]!
    expect(second).toMatchObject({ updates: 3, accepted: 2, rejected: 1, maxStaleness: 1, meanStaleness: 1 })
    expect(second.reasons).toEqual({ 'loss above the reject ratio': 1 })
    expect(second.rewarded).toBe(units(4)) // 2 tokens in rounds 1 and 3, nothing when rejected
    expect(stats[2]).toMatchObject({ updates: 1, accepted: 1, rewarded: units(3) })
  })

  it('lists the updates newest round first, filtered by client', () => {
    expect(updateRows(rounds).map((row) => row.version)).toEqual([3, 3, 3, 2, 2, 1, 1])
    expect(updateRows(rounds, CLIENTS[2]).map((row) => [row.version, row.client])).toEqual([[3, CLIENTS[2]]])
  })

  it('pages the update rows, re-spanning a round cut by the page', () => {
    const page = pageUpdateRows(updateRows(rounds), 1, 4)
    expect(page.pages).toBe(2)
    // the page's first row is the rest of round 2: it opens its own round cell
    expect(page.rows.map((row) => [row.version, row.first, row.span])).toEqual([
      [2, true, 1],
      [1, true, 2],
      [1, false, 2],
    ])
    const fixed = pageUpdateRows(updateRows(rounds), 0, 4)
    expect(fixed.rows.map((row) => [row.version, row.first, row.span])).toEqual([
      [3, true, 3],
      [3, false, 3],
      [3, false, 3],
      [2, true, 1],
    ])
  })

  it('puts each update on its client lane of the timeline', () => {
    const points = timelinePoints(rounds, CLIENTS)
    expect(points).toHaveLength(7)
    expect(points.filter((p) => p.lane === 1).map((p) => [p.version, p.accepted])).toEqual([
      [1, true],
      [2, false],
      [3, true],
    ])
  })
})

it('clamps pages', () => {
  expect(pageOf([1, 2, 3], 5, 2)).toEqual({ rows: [3], pages: 2, page: 1 })
  expect(pageOf([], 0, 10)).toEqual({ rows: [], pages: 1, page: 0 })
})

describe('tokens per client', () => {
  it('takes the contract’s record when the chain was read', () => {
    const { source, rows } = tokenRows(chain(), [round(1)])
    expect(source).toBe('chain')
    expect(rows.map((row) => [row.client, row.earnedTokens, row.paidTokens])).toEqual([
      [CLIENTS[0], 3, 1],
      [CLIENTS[1], 6, 2],
    ])
    expect(rows[0]!.balance).toBe(units(1))
  })

  it('falls back to summing the rounds’ rewards', () => {
    const { source, rows } = tokenRows(undefined, [round(1), round(2)])
    expect(source).toBe('rounds')
    expect(rows.map((row) => [row.earned, row.paid])).toEqual([
      [units(2), null],
      [units(4), null],
    ])
    expect(tokenSummary(rows)).toBe(`2 clients earned 6.0000 tokens in total; the most, 4.0000, went to ${CLIENTS[1]}.`)
    expect(tokenSummary([])).toMatch(/No client/)
  })
})

it('describes the charts in words', () => {
  const rounds = [round(1), round(2), round(4)]
  expect(validationSummary(rounds)).toBe(
    'Validation accuracy 51.0 % at v1, 54.0 % at v4 (best 54.0 % at v4); loss 1.0000 at v1, 0.2500 at v4.',
  )
  expect(validationSummary([])).toMatch(/No validation/)
  // elapsed_s is cumulative (2.1, 2.2, 2.4 s since the start): the rounds took 2.1, 0.1 and 0.2 s.
  expect(elapsedSummary(rounds)).toBe('3 rounds in 2.4 s: 0.8 s per round on average, the slowest v1 (2.1 s).')
})

it('reports the privacy spent by the newest round, and nothing without differential privacy', () => {
  const privacy = (rounds: number, epsilon: number | null) => ({
    epsilon, delta: 1e-5, noise_multiplier: 1.1, clip: 0.5, rounds, noise_std: 0.275, seed: 'ab'.repeat(32), accountant: 'rdp',
  })
  expect(privacySummary([round(1), round(2)])).toBeNull()
  expect(privacySummary([round(1, { privacy: privacy(1, 4.123) }), round(2, { privacy: privacy(2, 6.5) })])).toBe(
    'Central differential privacy: ε = 6.50 at δ = 0.00001 after 2 rounds (RDP accountant; each update\'s move clipped to ' +
      'norm 0.5, noise multiplier 1.1, noise standard deviation 0.275).',
  )
  expect(privacySummary([round(1, { privacy: privacy(1, null) })])).toMatch(/no guarantee .* after 1 round \(/)
  expect([epsilonText(privacy(3, 10.941)), epsilonText(privacy(3, null)), epsilonText(null)]).toEqual(['10.94', '∞', '–'])
})

it('takes each round’s own time from the cumulative clock, also across an aggregator restart', () => {
  const at = (version: number, elapsed_s: number) => ({ ...round(version), elapsed_s })
  expect(roundDurations([at(1, 10), at(2, 25), at(3, 4), at(4, 9)])).toEqual([10, 15, 4, 5])
  expect(chartSeries([at(1, 10), at(2, 25)]).map((point) => point.elapsed)).toEqual([10, 15])
})

it('lists transactions newest first with their total gas', () => {
  const { rows, gas } = transactions([round(1), round(2, { tx: false }), round(3)])
  expect(rows.map((row) => row.version)).toEqual([3, 1])
  expect(gas).toBe(200_004)
})

it('builds explorer links only when an explorer is configured', () => {
  expect(explorerBase('http://scout.test/address/0xabc')).toBe('http://scout.test')
  expect(explorerBase(null, 'http://scout.test/')).toBe('http://scout.test')
  expect(explorerBase(null, null)).toBeNull()
  expect(transactionUrl('http://scout.test', '0x12')).toBe('http://scout.test/tx/0x12')
  expect(transactionUrl(null, '0x12')).toBeNull()
})

it('writes a Kafka pointer as topic[partition] start–end', () => {
  expect(pointerText({ topic: 'w', partition: 2, start_offset: 10, end_offset: 13 })).toBe('w[2] 10–13')
  expect(pointerText(null)).toBe('–')
})

describe('audit verdict', () => {
  const check = (version: number, ok: boolean) => ({
    version, ok, updates: 2, recorded: '0x01', recomputed: ok ? '0x01' : '0x02', problem: ok ? '' : 'recomputed hash differs',
  })

  it('says all versions identical when it passed', () => {
    const passed = audit({ status: 'passed', report: { ok: true, first_mismatch: null, checks: [1, 2, 3].map((v) => check(v, true)) } })
    expect(auditVerdict(passed)).toMatchObject({ state: 'passed', text: 'All 3 versions identical' })
    expect(auditChecks(passed).get(2)).toMatchObject({ ok: true, recomputed: '0x01' })
  })

  it('names the first mismatch and its problem', () => {
    const failed = audit({ status: 'failed', report: { ok: false, first_mismatch: 2, checks: [check(1, true), check(2, false)] } })
    expect(auditVerdict(failed)).toEqual({ state: 'failed', text: 'First mismatch at version 2', detail: 'recomputed hash differs' })
  })

  it('explains an audit that could not run, and one still running', () => {
    const broken = audit({ status: 'error', report: { ok: false, error: 'the chain cannot be read', checks: [], first_mismatch: null } })
    expect(auditVerdict(broken)).toMatchObject({ state: 'error', text: 'The audit could not run', detail: 'the chain cannot be read' })
    expect(auditVerdict(audit()).state).toBe('running')
    expect(auditVerdict(undefined).state).toBe('none')
    expect(auditChecks(audit({ status: 'passed', report: 'garbage' })).size).toBe(0)
  })

  it('picks the newest audit', () => {
    expect(newestAudit([audit({ id: 2 }), audit({ id: 5 }), audit({ id: 3 })])?.id).toBe(5)
    expect(newestAudit([])).toBeUndefined()
  })
})

/**
 * The data logic of the training and lineage pages, as small pure functions (tested in
 * training.test.ts): merging rounds that arrive live, grouping updates per client, token sums,
 * chart series with their text summaries, explorer links and the audit's verdict in words.
 */
import type { Audit, Result, Round, TrainingChain } from '../../../api/client'
import { percent, seconds, tokenNumber, tokens } from '../../../lib/format'

type Contribution = Round['contributions'][number]
type Pointer = NonNullable<Round['pointer']>

/** How often the live views ask again (tests shorten these). */
export const timing = { roundsMs: 1000, resultMs: 2000, chainMs: 5000, listMs: 3000, auditMs: 1000 }

/** A training still producing rounds (the views poll it). */
export function isActive(status: string | undefined): boolean {
  return status === 'created' || status === 'running'
}

/** A training coordinated by a contract (blockchain mode): it has a contract address. */
export function isBlockchain(result: Pick<Result, 'contract_address'> | undefined): boolean {
  return Boolean(result?.contract_address)
}

/** The newest version among `rounds`, or null when there is none yet. */
export function lastVersion(rounds: readonly Round[]): number | null {
  return rounds.at(-1)?.version ?? null
}

/**
 * `incoming` rounds added to `existing` (kept sorted by version, each version once, a newer copy
 * of a version replacing the older). Returns `existing` itself when nothing changed, so memoized
 * views derived from it are not recomputed on an empty poll.
 */
export function mergeRounds(existing: readonly Round[], incoming: readonly Round[]): Round[] {
  if (!incoming.length) return existing as Round[]
  const last = lastVersion(existing)
  const sorted = [...incoming].sort((a, b) => a.version - b.version)
  if (last === null || (sorted[0]?.version ?? 0) > last) {
    const appended = [...existing]
    for (const round of sorted) {
      if (round.version > (lastVersion(appended) ?? -1)) appended.push(round)
    }
    return appended
  }
  const byVersion = new Map(existing.map((round) => [round.version, round]))
  for (const round of sorted) byVersion.set(round.version, round)
  return [...byVersion.values()].sort((a, b) => a.version - b.version)
}

/** Sum of token base-unit strings (exact, as a base-unit string). */
export function sumUnits(values: readonly (string | null | undefined)[]): string {
  let total = 0n
  for (const value of values) if (value && /^[0-9]+$/.test(value)) total += BigInt(value)
  return total.toString()
}

export type ChartPoint = { version: number; accuracy: number | null; loss: number | null; elapsed: number }

/**
 * How long each round took. A round reports `elapsed_s`, the seconds since its aggregator started,
 * so a round's own time is the difference to the round before; after an aggregator restart the
 * clock starts again (a drop), and the round's time is its own reading.
 */
export function roundDurations(rounds: readonly Round[]): number[] {
  return rounds.map((round, index) => {
    const before = index > 0 ? rounds[index - 1]!.elapsed_s : 0
    return round.elapsed_s >= before ? round.elapsed_s - before : round.elapsed_s
  })
}

/** One point per global version for the validation and round-time charts. */
export function chartSeries(rounds: readonly Round[]): ChartPoint[] {
  const durations = roundDurations(rounds)
  return rounds.map((round, index) => ({
    version: round.version,
    accuracy: round.val_accuracy ?? null,
    loss: round.val_loss ?? null,
    elapsed: durations[index]!,
  }))
}

/** The validation chart in words (its text alternative). */
export function validationSummary(rounds: readonly Round[]): string {
  const measured = rounds.filter((round) => round.val_accuracy !== null && round.val_accuracy !== undefined)
  const first = measured[0]
  const last = measured.at(-1)
  if (!first || !last) return 'No validation metric reported yet.'
  const best = measured.reduce((top, round) => ((round.val_accuracy ?? 0) > (top.val_accuracy ?? 0) ? round : top))
  const loss = (round: Round) => (round.val_loss === null || round.val_loss === undefined ? '–' : round.val_loss.toFixed(4))
  return (
    `Validation accuracy ${percent(first.val_accuracy)} at v${first.version}, ${percent(last.val_accuracy)} at ` +
    `v${last.version} (best ${percent(best.val_accuracy)} at v${best.version}); loss ${loss(first)} at ` +
    `v${first.version}, ${loss(last)} at v${last.version}.`
  )
}

/** The privacy a round reports as the rounds table shows it: '–' without differential privacy, '∞' without noise. */
export function epsilonText(privacy: Round['privacy'] | undefined): string {
  if (!privacy) return '–'
  return privacy.epsilon === null || privacy.epsilon === undefined ? '∞' : privacy.epsilon.toFixed(2)
}

/** The privacy spent so far (the newest round's account) in words; null when the training has no differential privacy. */
export function privacySummary(rounds: readonly Round[]): string | null {
  let last: Round['privacy'] | undefined
  for (let index = rounds.length - 1; index >= 0 && !last; index -= 1) last = rounds[index]?.privacy
  if (!last) return null
  const spent = last.epsilon === null || last.epsilon === undefined ? 'no guarantee (no noise: ε is infinite)' : `ε = ${last.epsilon.toFixed(2)}`
  return (
    `Central differential privacy: ${spent} at δ = ${last.delta} after ${last.rounds} round${last.rounds === 1 ? '' : 's'} ` +
    `(${last.accountant.toUpperCase()} accountant; each update's move clipped to norm ${last.clip}, noise multiplier ` +
    `${last.noise_multiplier}, noise standard deviation ${last.noise_std}).`
  )
}

/** The round-time chart in words. */
export function elapsedSummary(rounds: readonly Round[]): string {
  if (!rounds.length) return 'No round finished yet.'
  const durations = roundDurations(rounds)
  const total = durations.reduce((sum, duration) => sum + duration, 0)
  const slowest = durations.indexOf(Math.max(...durations))
  return (
    `${rounds.length} rounds in ${seconds(total)}: ${seconds(total / rounds.length)} per round on average, ` +
    `the slowest v${rounds[slowest]!.version} (${seconds(durations[slowest])}).`
  )
}

export type ClientStats = {
  client: string
  updates: number
  accepted: number
  rejected: number
  meanStaleness: number
  maxStaleness: number
  /** Token base units the rounds report as rewarded. */
  rewarded: string
  /** Rejection reason → how often. */
  reasons: Record<string, number>
}

/** Every client's updates across the rounds, in order of first appearance. */
export function clientStats(rounds: readonly Round[]): ClientStats[] {
  const stats = new Map<string, ClientStats & { staleness: number; reward: bigint }>()
  for (const round of rounds) {
    for (const update of round.contributions) {
      let entry = stats.get(update.client)
      if (!entry) {
        entry = {
          client: update.client, updates: 0, accepted: 0, rejected: 0, meanStaleness: 0, maxStaleness: 0,
          rewarded: '0', reasons: {}, staleness: 0, reward: 0n,
        }
        stats.set(update.client, entry)
      }
      entry.updates += 1
      if (update.accepted) entry.accepted += 1
      else {
        entry.rejected += 1
        const reason = update.reason || 'no reason given'
        entry.reasons[reason] = (entry.reasons[reason] ?? 0) + 1
      }
      entry.staleness += update.staleness
      entry.maxStaleness = Math.max(entry.maxStaleness, update.staleness)
      if (/^[0-9]+$/.test(update.reward)) entry.reward += BigInt(update.reward)
    }
  }
  return [...stats.values()].map(({ staleness, reward, ...entry }) => ({
    ...entry,
    meanStaleness: entry.updates ? staleness / entry.updates : 0,
    rewarded: reward.toString(),
  }))
}

export type UpdateRow = Contribution & { version: number }

/** The updates of the rounds as table rows, newest round first, optionally of one client only. */
export function updateRows(rounds: readonly Round[], client = ''): UpdateRow[] {
  const rows: UpdateRow[] = []
  for (const round of [...rounds].reverse()) {
    const updates = client ? round.contributions.filter((update) => update.client === client) : round.contributions
    for (const update of updates) rows.push({ ...update, version: round.version })
  }
  return rows
}

/** The rows of page `page` (0-based, clamped to the pages there are) of `size` rows each. */
export function pageOf<T>(items: readonly T[], page: number, size: number): { rows: T[]; pages: number; page: number } {
  const pages = Math.max(1, Math.ceil(items.length / size))
  const current = Math.min(Math.max(0, page), pages - 1)
  return { rows: items.slice(current * size, current * size + size), pages, page: current }
}

/**
 * Update rows of one page; `first` marks the first row of each round on the page and `span` how
 * many rows that round has there (for a round cell spanning them).
 */
export function pageUpdateRows(rows: readonly UpdateRow[], page: number, size: number) {
  const cut = pageOf(rows, page, size)
  const spans = new Map<number, number>()
  for (const row of cut.rows) spans.set(row.version, (spans.get(row.version) ?? 0) + 1)
  const seen = new Set<number>()
  const shown = cut.rows.map((row) => {
    const first = !seen.has(row.version)
    seen.add(row.version)
    return { ...row, first, span: spans.get(row.version) ?? 1 }
  })
  return { ...cut, rows: shown }
}

export type TimelinePoint = { version: number; lane: number; client: string; accepted: boolean; staleness: number }

/** The updates as points of a timeline: x the round, y the client's lane (its index in `clients`). */
export function timelinePoints(rounds: readonly Round[], clients: readonly string[]): TimelinePoint[] {
  const lanes = new Map(clients.map((client, index) => [client, index]))
  const points: TimelinePoint[] = []
  for (const round of rounds) {
    for (const update of round.contributions) {
      points.push({
        version: round.version, lane: lanes.get(update.client) ?? -1, client: update.client,
        accepted: update.accepted, staleness: update.staleness,
      })
    }
  }
  return points
}

export type TokenRow = {
  client: string
  earned: string
  paid: string | null
  balance: string | null
  ceiling: number | null
  /** For the chart (floats; the table shows the exact amounts). */
  earnedTokens: number
  paidTokens: number
}

/**
 * Tokens per client: as the contract records them (earned, paid, balance) when the chain was read,
 * else the rewards the rounds report (earned only).
 */
export function tokenRows(chain: TrainingChain | undefined, rounds: readonly Round[]): { source: 'chain' | 'rounds'; rows: TokenRow[] } {
  if (chain) {
    return {
      source: 'chain',
      rows: chain.clients.map((entry) => ({
        client: entry.client, earned: entry.earned, paid: entry.paid, balance: entry.balance,
        ceiling: entry.sample_ceiling, earnedTokens: tokenNumber(entry.earned), paidTokens: tokenNumber(entry.paid),
      })),
    }
  }
  return {
    source: 'rounds',
    rows: clientStats(rounds).map((entry) => ({
      client: entry.client, earned: entry.rewarded, paid: null, balance: null, ceiling: null,
      earnedTokens: tokenNumber(entry.rewarded), paidTokens: 0,
    })),
  }
}

/** The token chart in words. */
export function tokenSummary(rows: readonly TokenRow[]): string {
  if (!rows.length) return 'No client has earned tokens yet.'
  const total = sumUnits(rows.map((row) => row.earned))
  const top = rows.reduce((best, row) => (BigInt(row.earned || '0') > BigInt(best.earned || '0') ? row : best))
  return `${rows.length} clients earned ${tokens(total)} tokens in total; the most, ${tokens(top.earned)}, went to ${top.client}.`
}

export type TransactionRow = { version: number; hash: string; gas: number; block: number | null }

/** The rounds' transactions (blockchain mode), newest first, and their total gas. */
export function transactions(rounds: readonly Round[]): { rows: TransactionRow[]; gas: number } {
  const rows: TransactionRow[] = []
  let gas = 0
  for (const round of [...rounds].reverse()) {
    const transaction = round.transaction
    if (!transaction) continue
    rows.push({ version: round.version, hash: transaction.hash, gas: transaction.gas, block: transaction.block ?? null })
    gas += transaction.gas
  }
  return { rows, gas }
}

/**
 * The block explorer's base URL, from a result's `explorer_url` (`<base>/address/<contract>`) or
 * the platform's `blockscout_url`; null when no explorer is configured.
 */
export function explorerBase(explorerUrl: string | null | undefined, blockscoutUrl?: string | null): string | null {
  if (explorerUrl) {
    const cut = explorerUrl.lastIndexOf('/address/')
    if (cut > 0) return explorerUrl.slice(0, cut)
  }
  return blockscoutUrl ? blockscoutUrl.replace(/\/+$/, '') : null
}

export function transactionUrl(base: string | null, hash: string): string | null {
  return base && hash ? `${base}/tx/${hash}` : null
}

/** A Kafka pointer as `topic[partition] start–end` (records [start, end) hold the weights). */
export function pointerText(pointer: Pointer | null | undefined): string {
  return pointer ? `${pointer.topic}[${pointer.partition}] ${pointer.start_offset}–${pointer.end_offset}` : '–'
}

export type AuditCheck = { version: number; ok: boolean; recorded: string; recomputed: string | null; updates: number; problem: string }

type AuditReport = { ok?: boolean; first_mismatch?: number | null; error?: string; checks?: unknown[]; strategy?: string }

function report(audit: Audit | undefined): AuditReport {
  const value = audit?.report
  return value && typeof value === 'object' ? (value as AuditReport) : {}
}

/** The audit's per-version checks, by version. */
export function auditChecks(audit: Audit | undefined): Map<number, AuditCheck> {
  const checks = new Map<number, AuditCheck>()
  for (const item of report(audit).checks ?? []) {
    if (!item || typeof item !== 'object') continue
    const check = item as Partial<AuditCheck>
    if (typeof check.version !== 'number') continue
    checks.set(check.version, {
      version: check.version, ok: Boolean(check.ok), recorded: String(check.recorded ?? ''),
      recomputed: check.recomputed ? String(check.recomputed) : null, updates: Number(check.updates ?? 0),
      problem: String(check.problem ?? ''),
    })
  }
  return checks
}

export type Verdict = { state: 'none' | 'running' | 'passed' | 'failed' | 'error'; text: string; detail: string }

/** What the newest audit says, in words. */
export function auditVerdict(audit: Audit | undefined): Verdict {
  if (!audit) return { state: 'none', text: 'Not verified yet.', detail: '' }
  const body = report(audit)
  if (audit.status === 'running' || audit.status === undefined) {
    return { state: 'running', text: 'Verifying: recomputing every version from Kafka and the chain…', detail: '' }
  }
  const checks = auditChecks(audit)
  if (audit.status === 'passed') {
    return { state: 'passed', text: `All ${checks.size} versions identical`, detail: 'Every global version was recomputed bit for bit from its recorded updates.' }
  }
  const mismatch = body.first_mismatch ?? [...checks.values()].find((check) => !check.ok)?.version ?? null
  if (audit.status === 'failed' && mismatch !== null) {
    return { state: 'failed', text: `First mismatch at version ${mismatch}`, detail: checks.get(mismatch)?.problem ?? '' }
  }
  return {
    state: 'error',
    text: mismatch !== null ? `First mismatch at version ${mismatch}` : 'The audit could not run',
    detail: body.error || (mismatch !== null ? checks.get(mismatch)?.problem ?? '' : ''),
  }
}

/** The newest audit of a list (highest id). */
export function newestAudit(audits: readonly Audit[] | undefined): Audit | undefined {
  return audits?.reduce<Audit | undefined>((newest, audit) => (!newest || audit.id > newest.id ? audit : newest), undefined)
}

/**
 * The training page's charts. Metrics and times are Recharts line charts (loaded with that page
 * only); the updates' timeline is a light SVG of one lane per client, the tokens HTML bars. Each chart is
 * drawn once per change of its data (memo), without animation, and hidden from screen readers:
 * the page puts a caption and a table with the same numbers next to it. Legends are plain HTML,
 * and there is no hover tooltip (the tables carry the values): both keep the bundle small.
 */
import { memo, type ReactNode } from 'react'
import { CartesianGrid, Line, LineChart, XAxis, YAxis } from 'recharts'
import { short } from '../../../lib/format'
import type { ChartPoint, TimelinePoint, TokenRow } from '../lib/training'

const COLORS = { accuracy: '#0b5cad', loss: '#b42318', earned: '#0b5cad', paid: '#c27c0e', elapsed: '#57606a' }
const STYLE = { width: '100%', height: '100%' }
const MARGIN = { top: 8, right: 8, bottom: 4, left: 0 }

type Key = { label: string; color: string; dashed?: boolean; hollow?: boolean }

function Chart({ keys, children }: { keys: Key[]; children: ReactNode }) {
  return (
    <div aria-hidden="true">
      <div className="chart-box">{children}</div>
      {keys.length > 1 && <Legend keys={keys} />}
    </div>
  )
}

function Legend({ keys }: { keys: Key[] }) {
  return (
    <ul className="legend">
      {keys.map((key) => (
        <li key={key.label}>
          <span
            className="swatch"
            style={
              key.hollow
                ? { border: `2px solid ${key.color}`, background: '#fff' }
                : key.dashed
                  ? { background: `repeating-linear-gradient(90deg, ${key.color} 0 4px, transparent 4px 6px)`, height: '0.25rem' }
                  : { background: key.color }
            }
          />
          {key.label}
        </li>
      ))}
    </ul>
  )
}

const version = (value: unknown) => `v${String(value)}`

export const ValidationChart = memo(function ValidationChart({ points }: { points: ChartPoint[] }) {
  return (
    <Chart keys={[{ label: 'Accuracy (left axis)', color: COLORS.accuracy }, { label: 'Loss (right axis)', color: COLORS.loss, dashed: true }]}>
      <LineChart data={points} responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="version" tickFormatter={version} />
        <YAxis yAxisId="accuracy" domain={[0, 1]} tickFormatter={(value: number) => `${Math.round(value * 100)}%`} width={52} />
        <YAxis yAxisId="loss" orientation="right" width={56} tickFormatter={(value: number) => Number(value.toPrecision(2)).toString()} />
        <Line yAxisId="accuracy" dataKey="accuracy" stroke={COLORS.accuracy} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />
        <Line yAxisId="loss" dataKey="loss" stroke={COLORS.loss} strokeWidth={2} strokeDasharray="5 3" dot={false} isAnimationActive={false} connectNulls />
      </LineChart>
    </Chart>
  )
})

/** One lane per client, one mark per update at the round that screened it: filled accepted, hollow rejected. */
export const TimelineChart = memo(function TimelineChart({ points, clients }: { points: TimelinePoint[]; clients: string[] }) {
  let first = Infinity
  let last = -Infinity
  const lanes: TimelinePoint[][] = clients.map(() => [])
  for (const point of points) {
    first = Math.min(first, point.version)
    last = Math.max(last, point.version)
    lanes[point.lane]?.push(point)
  }
  if (!points.length) return null
  const span = last - first + 1
  return (
    <div aria-hidden="true">
      <div className="timeline">
        {clients.map((client, lane) => (
          <div className="lane" key={client}>
            <span className="lane-label">{short(client, 4)}</span>
            <svg className="lane-track" viewBox={`0 0 ${span} 1`} preserveAspectRatio="none">
              {lanes[lane]?.map((point, index) => (
                <rect
                  key={index}
                  className={point.accepted ? 'mark accepted' : 'mark rejected'}
                  x={point.version - first + 0.15}
                  y={0.15}
                  width={0.7}
                  height={0.7}
                />
              ))}
            </svg>
          </div>
        ))}
        <div className="lane axis">
          <span className="lane-label">round</span>
          <span className="lane-ends">
            <span>v{first}</span>
            <span>v{last}</span>
          </span>
        </div>
      </div>
      <Legend keys={[{ label: 'Accepted', color: '#1a7f37' }, { label: 'Rejected', color: '#b42318', hollow: true }]} />
    </div>
  )
})

/**
 * Tokens per client as horizontal bars (earned, and paid when the chain says): plain HTML, one row
 * per client, scaled to the largest amount: bars of a handful of clients need no axes engine, and
 * Recharts' bar chart would not fit the bundle budget (benchmarks/ui.py).
 */
export const TokenChart = memo(function TokenChart({ rows, paid }: { rows: TokenRow[]; paid: boolean }) {
  const largest = Math.max(...rows.map((row) => Math.max(row.earnedTokens, paid ? row.paidTokens : 0)), 0)
  const width = (value: number) => `${largest > 0 ? (100 * value) / largest : 0}%`
  return (
    <div aria-hidden="true">
      <div className="token-bars">
        {rows.map((row) => (
          <div className="token-bar" key={row.client} data-token-client={row.client}>
            <span className="lane-label">{short(row.client, 4)}</span>
            <span className="bars">
              <span className="bar" style={{ width: width(row.earnedTokens), background: COLORS.earned }} />
              {paid && <span className="bar" style={{ width: width(row.paidTokens), background: COLORS.paid }} />}
            </span>
            <span className="amount">{row.earnedTokens.toFixed(3)}</span>
          </div>
        ))}
      </div>
      <Legend keys={paid ? [{ label: 'Earned', color: COLORS.earned }, { label: 'Paid', color: COLORS.paid }]
        : [{ label: 'Earned', color: COLORS.earned }]} />
    </div>
  )
})

export const ElapsedChart = memo(function ElapsedChart({ points }: { points: ChartPoint[] }) {
  return (
    <Chart keys={[]}>
      <LineChart data={points} responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="version" tickFormatter={version} />
        <YAxis width={48} unit=" s" />
        <Line dataKey="elapsed" stroke={COLORS.elapsed} strokeWidth={2} dot={{ r: 2 }} isAnimationActive={false} />
      </LineChart>
    </Chart>
  )
})

/**
 * The training page's charts (Recharts, loaded with that page only). Each is drawn once per change
 * of its data (memo), without animation, and hidden from screen readers: the page puts a caption
 * and a table with the same numbers next to each.
 */
import { memo, type ReactNode } from 'react'
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
  ZAxis,
} from 'recharts'
import { short } from '../format'
import type { ChartPoint, TimelinePoint, TokenRow } from '../training'

const COLORS = { accuracy: '#0b5cad', loss: '#b42318', accepted: '#1a7f37', rejected: '#b42318', earned: '#0b5cad', paid: '#8a5a00', elapsed: '#57606a' }
const STYLE = { width: '100%', height: '100%' }
const MARGIN = { top: 8, right: 12, bottom: 4, left: 4 }

function Box({ children, tall = false }: { children: ReactNode; tall?: boolean }) {
  return (
    <div className={`chart-box${tall ? ' tall' : ''}`} aria-hidden="true">
      {children}
    </div>
  )
}

const version = (value: unknown) => `v${String(value)}`

export const ValidationChart = memo(function ValidationChart({ points }: { points: ChartPoint[] }) {
  return (
    <Box>
      <LineChart data={points} responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="version" tickFormatter={version} />
        <YAxis yAxisId="accuracy" domain={[0, 1]} tickFormatter={(value: number) => `${Math.round(value * 100)}%`} width={44} />
        <YAxis yAxisId="loss" orientation="right" width={48} />
        <Tooltip labelFormatter={version} />
        <Legend />
        <Line yAxisId="accuracy" dataKey="accuracy" name="Accuracy" stroke={COLORS.accuracy} strokeWidth={2} dot={false} isAnimationActive={false} connectNulls />
        <Line yAxisId="loss" dataKey="loss" name="Loss" stroke={COLORS.loss} strokeWidth={2} strokeDasharray="5 3" dot={false} isAnimationActive={false} connectNulls />
      </LineChart>
    </Box>
  )
})

export const TimelineChart = memo(function TimelineChart({ points, clients }: { points: TimelinePoint[]; clients: string[] }) {
  const accepted = points.filter((point) => point.accepted)
  const rejected = points.filter((point) => !point.accepted)
  return (
    <Box tall={clients.length > 6}>
      <ScatterChart responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis type="number" dataKey="version" name="Round" tickFormatter={version} allowDecimals={false} domain={['dataMin', 'dataMax']} />
        <YAxis
          type="number"
          dataKey="lane"
          name="Client"
          domain={[-0.5, Math.max(0, clients.length - 0.5)]}
          ticks={clients.map((_, index) => index)}
          tickFormatter={(lane: number) => short(clients[lane], 4)}
          width={96}
          reversed
        />
        <ZAxis range={[36, 36]} />
        <Tooltip formatter={(value, name) => (name === 'Client' ? short(clients[Number(value)], 6) : name === 'Round' ? version(value) : String(value))} />
        <Legend />
        <Scatter name="Accepted" data={accepted} fill={COLORS.accepted} shape="circle" isAnimationActive={false} />
        <Scatter name="Rejected" data={rejected} fill={COLORS.rejected} shape="cross" isAnimationActive={false} />
      </ScatterChart>
    </Box>
  )
})

export const TokenChart = memo(function TokenChart({ rows, paid }: { rows: TokenRow[]; paid: boolean }) {
  return (
    <Box>
      <BarChart data={rows} responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="client" tickFormatter={(client: string) => short(client, 4)} />
        <YAxis width={56} />
        <Tooltip labelFormatter={(client) => String(client)} />
        <Legend />
        <Bar dataKey="earnedTokens" name="Earned" fill={COLORS.earned} isAnimationActive={false} />
        {paid && <Bar dataKey="paidTokens" name="Paid" fill={COLORS.paid} isAnimationActive={false} />}
      </BarChart>
    </Box>
  )
})

export const ElapsedChart = memo(function ElapsedChart({ points }: { points: ChartPoint[] }) {
  return (
    <Box>
      <BarChart data={points} responsive style={STYLE} margin={MARGIN} accessibilityLayer={false}>
        <CartesianGrid strokeDasharray="3 3" />
        <XAxis dataKey="version" tickFormatter={version} />
        <YAxis width={44} unit=" s" />
        <Tooltip labelFormatter={version} formatter={(value) => `${Number(value).toFixed(1)} s`} />
        <Bar dataKey="elapsed" name="Elapsed" fill={COLORS.elapsed} isAnimationActive={false} />
      </BarChart>
    </Box>
  )
})

/** The live view's numbers: class bars scaled to the largest count, and a regression's line as SVG points. */
import type { Predictions } from '../api/inferences'

export type Bar = { label: number; count: number; share: number; width: string }

export function classBars(predictions: Predictions): Bar[] {
  const total = predictions.classes.reduce((sum, entry) => sum + entry.count, 0)
  const largest = Math.max(0, ...predictions.classes.map((entry) => entry.count))
  return predictions.classes.map((entry) => ({
    label: entry.class_index,
    count: entry.count,
    share: total ? entry.count / total : 0,
    width: `${largest ? (100 * entry.count) / largest : 0}%`,
  }))
}

/** The first output of each regression answer, oldest first, as "x,y" points in a 100 × 40 box (y up). */
export function linePoints(values: number[][]): { points: string; low: number; high: number } | null {
  const series = values.map((answer) => answer[0]).filter((value): value is number => value !== undefined)
  if (!series.length) return null
  const low = Math.min(...series)
  const high = Math.max(...series)
  const span = high - low || 1
  const step = series.length > 1 ? 100 / (series.length - 1) : 0
  const points = series.map((value, index) => `${(index * step).toFixed(2)},${(40 - (40 * (value - low)) / span).toFixed(2)}`)
  return { points: points.join(' '), low, high }
}

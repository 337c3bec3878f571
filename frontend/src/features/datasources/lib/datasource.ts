/** How a datasource's sample counts and input shape read in its table. */
import { integer } from '../../../lib/format'

/** `{train: 800, validation: 100, test: 100}` as "train 800 · validation 100 · test 100". */
export function countsText(counts: unknown): string {
  if (!counts || typeof counts !== 'object') return '–'
  const parts = Object.entries(counts as Record<string, unknown>).map(([split, value]) =>
    `${split} ${typeof value === 'number' ? integer(value) : String(value)}`,
  )
  return parts.length ? parts.join(' · ') : '–'
}

/** `[28, 28, 1]` as "28 × 28 × 1" (null dimensions as "?"). */
export function shapeText(shape: unknown): string {
  if (!Array.isArray(shape) || !shape.length) return '–'
  return shape.map((size) => (size === null || size === undefined ? '?' : String(size))).join(' × ')
}

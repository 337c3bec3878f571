/**
 * What a single or incremental training's final record says (`result.final`, written by the
 * training job, so read defensively): its test metrics, its confusion matrix (rows the true
 * classes, columns the predicted ones) with the totals and accuracy it implies, and for an
 * incremental training what its windows did. Anything not of the expected shape is left out.
 */

/** The most classes the page draws a matrix for (a larger one is said, not drawn). */
export const MAX_MATRIX_CLASSES = 50

export type Matrix = {
  cells: number[][]
  rowTotals: number[]
  columnTotals: number[]
  total: number
  correct: number
  largest: number
}

export type Increments = { windows: number; served: number; skipped: number }

export type Outcome = {
  /** Where the metrics were measured: the test split, or the validation split when there is no test split. */
  split: string
  metrics: [string, number][]
  matrix: Matrix | null
  /** A matrix was reported but has too many classes, or is not a square of counts. */
  matrixProblem: string | null
  samples: [string, number][]
  increments: Increments | null
}

const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {}

const count = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0

/** The outcome of a single or incremental training, or null when the final record is not one. */
export function outcome(final: unknown): Outcome | null {
  const data = record(final)
  if (data.kind !== 'single' && data.kind !== 'incremental') return null
  const metrics = record(data.metrics)
  const split = metrics.confusion_matrix_split === 'validation' ? 'validation' : 'test'
  const measured = Object.entries(metrics).filter(
    (entry): entry is [string, number] => /^(test|validation)_/.test(entry[0]) && typeof entry[1] === 'number',
  )
  const reported = confusion(metrics.confusion_matrix)
  const increments = record(data.increments)
  return {
    split: measured.some(([name]) => name.startsWith('test_')) ? 'test' : split,
    metrics: measured,
    matrix: typeof reported === 'string' ? null : reported,
    matrixProblem: typeof reported === 'string' ? reported : null,
    samples: Object.entries(record(data.samples)).filter((entry): entry is [string, number] => count(entry[1])),
    increments:
      data.kind === 'incremental' && count(increments.windows)
        ? { windows: increments.windows, served: count(increments.served) ? increments.served : 0,
            skipped: count(increments.skipped_records) ? increments.skipped_records : 0 }
        : null,
  }
}

/** A square matrix of counts with its totals; a reason when it cannot be drawn; null when there is none. */
export function confusion(value: unknown): Matrix | string | null {
  if (value === undefined || value === null) return null
  if (!Array.isArray(value) || value.length === 0) return 'The confusion matrix reported is not a table of counts.'
  if (value.length > MAX_MATRIX_CLASSES) return `The confusion matrix has ${value.length} classes: too many to draw here.`
  const size = value.length
  if (!value.every((row) => Array.isArray(row) && row.length === size && row.every(count))) {
    return 'The confusion matrix reported is not a table of counts.'
  }
  const cells = value as number[][]
  const columnTotals = cells[0]!.map((_, column) => cells.reduce((sum, row) => sum + row[column]!, 0))
  const rowTotals = cells.map((row) => row.reduce((sum, cell) => sum + cell, 0))
  return {
    cells,
    rowTotals,
    columnTotals,
    total: rowTotals.reduce((sum, cell) => sum + cell, 0),
    correct: cells.reduce((sum, row, index) => sum + row[index]!, 0),
    largest: Math.max(...cells.flat()),
  }
}

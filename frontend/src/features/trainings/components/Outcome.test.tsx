import { render, screen, within } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { json, result, round, stubFetch, stubResizeObserver } from '../../../testing/fixtures'
import { seriousViolations } from '../../../testing/axe'
import { renderAt } from '../../../testing/route'
import { confusion, MAX_MATRIX_CLASSES, outcome } from '../lib/final'
import { ConfusionMatrix } from './Outcome'
import Training from './Training'

beforeEach(() => stubResizeObserver())
afterEach(() => vi.unstubAllGlobals())

const MATRIX = [
  [5, 1, 0],
  [2, 7, 1],
  [0, 0, 4],
]

const FINAL = {
  kind: 'incremental',
  versions: 5,
  samples: { train: 120, validation: 20, test: 20 },
  increments: { windows: 3, served: 1, skipped_records: 2 },
  metrics: {
    history: { loss: [0.9, 0.5], val_loss: [1, 0.6] },
    test_loss: 0.4321,
    test_accuracy: 0.8,
    confusion_matrix: MATRIX,
    confusion_matrix_split: 'test',
  },
}

describe('the confusion matrix', () => {
  it('draws the counts with class indices, row and column totals and the accuracy', () => {
    const matrix = confusion(MATRIX)
    if (!matrix || typeof matrix === 'string') throw new Error('expected a matrix')
    render(<ConfusionMatrix matrix={matrix} split="test" />)
    const table = screen.getByRole('table')
    const rows = within(table).getAllByRole('row').map((row) =>
      [...row.querySelectorAll('th, td')].map((cell) => cell.textContent))
    expect(rows).toEqual([
      ['true \\ predicted', '0', '1', '2', 'Total'],
      ['0', '5', '1', '0', '6'],
      ['1', '2', '7', '1', '10'],
      ['2', '0', '0', '4', '4'],
      ['Total', '7', '8', '5', '20'],
    ])
    expect(screen.getByText(/16 of 20 test samples classified correctly: accuracy 80.0 %/)).toBeTruthy()
    // The largest count is the darkest cell, an empty one is not shaded.
    const cells = [...table.querySelectorAll<HTMLElement>('tbody td')] // row by row, each row's total last
    expect(cells[5]!.style.background).toBe('rgba(11, 92, 173, 0.85)') // true 1, predicted 1: 7
    expect(cells[2]!.style.background).toBe('rgba(11, 92, 173, 0)') // true 0, predicted 2: none
  })

  it('refuses what is not a square table of counts, and a matrix too large to draw', () => {
    expect(confusion(undefined)).toBeNull()
    for (const bad of [[], [[1, 2]], [[1, -1], [0, 1]], [[1, 0.5], [0, 1]], [[1, '2'], [0, 1]], 'matrix', { 0: [1] }]) {
      expect(confusion(bad)).toBe('The confusion matrix reported is not a table of counts.')
    }
    const large = Array.from({ length: MAX_MATRIX_CLASSES + 1 }, () => Array(MAX_MATRIX_CLASSES + 1).fill(0))
    expect(confusion(large)).toMatch(/too many to draw/)
  })

  it('reads only a single or incremental final record, defensively', () => {
    expect(outcome(null)).toBeNull()
    expect(outcome({ finished: true, metrics: { test_loss: 1 } })).toBeNull() // a federated training's
    const read = outcome({ kind: 'single', metrics: { validation_loss: 0.5, validation_accuracy: 'high', confusion_matrix: [[1]] },
      confusion_matrix_split: 'validation', increments: { windows: 4 } })
    expect(read).toMatchObject({ metrics: [['validation_loss', 0.5]], increments: null, matrixProblem: null })
    expect(outcome(FINAL)?.increments).toEqual({ windows: 3, served: 1, skipped: 2 })
  })
})

describe('the training page of a single or incremental training', () => {
  it('shows validation per epoch, the test metrics, the confusion matrix and the increments, and nothing federated', async () => {
    stubFetch({
      'GET /api/results/7/': () => json(result({
        kind: 'incremental', status: 'finished', contract_address: '', explorer_url: null, federated_id: '',
        aggregator_address: '', rounds_done: 2, final: FINAL, model_sha256: 'f'.repeat(64),
        finished_at: '2025-01-01T12:05:00Z',
      })),
      'GET /api/results/7/rounds/': () => json([round(1, { clients: [], tx: false }), round(2, { clients: [], tx: false })]),
    })
    const { container } = renderAt('/trainings/7', '/trainings/:id', Training)
    const test = await screen.findByRole('region', { name: 'Test' })
    expect(within(test).getByText('80.0 %')).toBeTruthy() // test accuracy
    expect(within(test).getByText('0.4321')).toBeTruthy()
    expect(within(test).getByRole('table', { name: /Confusion matrix/ })).toBeTruthy()
    expect(within(test).getByText(/3 windows of new records trained on; 1 new version was served/)).toBeTruthy()
    const validation = screen.getByRole('region', { name: 'Validation' })
    expect(within(validation).getByText('v2')).toBeTruthy()
    expect(within(validation).queryByText('Updates accepted')).toBeNull()
    for (const federated of ['Updates', 'Tokens', 'Transactions']) expect(screen.queryByRole('region', { name: federated })).toBeNull()
    expect(screen.getByText('Kind').nextSibling?.textContent).toBe('incremental')
    expect(screen.getByRole('link', { name: 'Deploy for inference' }).getAttribute('href')).toBe('/inferences/new?result=7')
    expect(await seriousViolations(container)).toEqual([])
  })

  it('says the test results come at the end while the training runs', async () => {
    stubFetch({
      'GET /api/results/7/': () => json(result({ kind: 'single', contract_address: '', explorer_url: null })),
      'GET /api/results/7/rounds/': () => json([]),
    })
    renderAt('/trainings/7', '/trainings/:id', Training)
    expect(await screen.findByText(/appear when the training ends/)).toBeTruthy()
    expect(screen.getByText(/No epoch has been reported yet/)).toBeTruthy()
  })
})

/**
 * The outcome of a single or incremental training, from its final record: the test metrics, the
 * confusion matrix as a table shaded by count (class indices, each row's and column's total, the
 * accuracy its diagonal gives), and for an incremental training what its windows did.
 */
import { useId } from 'react'
import { TableWrap } from '../../../components/TableWrap'
import { Empty } from '../../../components/States'
import { integer, percent } from '../../../lib/format'
import type { Increments, Matrix, Outcome } from '../lib/final'

function metricText(name: string, value: number): string {
  return /accuracy/.test(name) ? percent(value) : Number(value.toPrecision(4)).toString()
}

export function OutcomeSection({ outcome, finished }: { outcome: Outcome | null; finished: boolean }) {
  const id = useId()
  return (
    <section className="block" aria-labelledby={id}>
      <h2 id={id}>{outcome?.split === 'validation' ? 'Final model on the validation split' : 'Test'}</h2>
      {!outcome ? (
        <Empty>{finished ? 'The training reported no test results.' : 'The test metrics and the confusion matrix appear when the training ends.'}</Empty>
      ) : (
        <>
          <dl className="stats card">
            {outcome.metrics.map(([name, value]) => (
              <div key={name}>
                <dt>{name.replace(/_/g, ' ')}</dt>
                <dd>{metricText(name, value)}</dd>
              </div>
            ))}
            {outcome.samples.map(([split, samples]) => (
              <div key={split}>
                <dt>{split} samples</dt>
                <dd>{integer(samples)}</dd>
              </div>
            ))}
          </dl>
          {outcome.matrix && <ConfusionMatrix matrix={outcome.matrix} split={outcome.split} />}
          {outcome.matrixProblem && <p className="notice">{outcome.matrixProblem}</p>}
          {outcome.increments && <IncrementsSummary increments={outcome.increments} />}
        </>
      )}
    </section>
  )
}

/** Rows the true classes, columns the predicted ones; each cell shaded by its share of the largest. */
export function ConfusionMatrix({ matrix, split }: { matrix: Matrix; split: string }) {
  const shade = (value: number) => (matrix.largest > 0 ? value / matrix.largest : 0)
  return (
    <>
      <h3>Confusion matrix</h3>
      <p className="help">
        {integer(matrix.correct)} of {integer(matrix.total)} {split} samples classified correctly: accuracy{' '}
        {percent(matrix.total ? matrix.correct / matrix.total : null)}. Rows are the true classes, columns the predicted ones.
      </p>
      <TableWrap label="Confusion matrix">
        <table className="confusion">
          <caption className="sr-only">Confusion matrix: samples of each true class (rows) by predicted class (columns)</caption>
          <thead>
            <tr>
              <th scope="col">true \ predicted</th>
              {matrix.columnTotals.map((_, column) => (
                <th scope="col" className="num" key={column}>{column}</th>
              ))}
              <th scope="col" className="num">Total</th>
            </tr>
          </thead>
          <tbody>
            {matrix.cells.map((row, index) => (
              <tr key={index}>
                <th scope="row">{index}</th>
                {row.map((cell, column) => (
                  <td key={column} className={column === index ? 'num hit' : 'num'}
                    style={{ background: `rgba(11, 92, 173, ${(0.85 * shade(cell)).toFixed(2)})`, color: shade(cell) > 0.55 ? '#fff' : undefined }}>
                    {integer(cell)}
                  </td>
                ))}
                <td className="num total">{integer(matrix.rowTotals[index])}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th scope="row">Total</th>
              {matrix.columnTotals.map((total, column) => (
                <td className="num total" key={column}>{integer(total)}</td>
              ))}
              <td className="num total">{integer(matrix.total)}</td>
            </tr>
          </tfoot>
        </table>
      </TableWrap>
    </>
  )
}

function IncrementsSummary({ increments }: { increments: Increments }) {
  return (
    <>
      <h3>Increments</h3>
      <p>
        {integer(increments.windows)} window{increments.windows === 1 ? '' : 's'} of new records trained on;{' '}
        {integer(increments.served)} new version{increments.served === 1 ? ' was' : 's were'} served (better than the
        one before on the monitored metric); {integer(increments.skipped)} record{increments.skipped === 1 ? '' : 's'}{' '}
        skipped (not samples of the datasource).
      </p>
    </>
  )
}

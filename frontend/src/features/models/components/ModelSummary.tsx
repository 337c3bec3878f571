/**
 * A model's build: its state as a badge (building, ready, failed at a line), and what the builder
 * found in a ready model: parameter count, input and output shapes, and its layers.
 */
import type { Model } from '../../../api/client'
import { integer } from '../../../lib/format'

/** How often a page showing a model being built asks for it again (tests shorten it). */
export const buildTiming = { pollMs: 1000 }

export function isBuilding(model: Pick<Model, 'status'>): boolean {
  return model.status === 'building'
}

/** The build's state, as the models list and the editor show it. */
export function BuildStatus({ model }: { model: Pick<Model, 'status' | 'line' | 'error'> }) {
  if (model.status === 'failed') {
    return (
      <span className="badge failed" title={model.error}>
        failed{model.line ? ` at line ${model.line}` : ''}
      </span>
    )
  }
  return model.status === 'ready' ? <span className="badge ok">ready</span> : <span className="badge running">building…</span>
}

/** A Keras shape as Keras prints it: `(None, 28, 28)`; a batch dimension is `None`. */
export function shape(value: readonly (number | null)[] | null | undefined): string {
  if (!value) return '–'
  const parts = value.map((size) => (size === null ? 'None' : String(size)))
  return `(${parts.join(', ')}${parts.length === 1 ? ',' : ''})`
}

export function ModelSummary({ model }: { model: Model }) {
  return (
    <section aria-labelledby="summary-title" className="card">
      <h2 id="summary-title">Summary</h2>
      <dl className="stats">
        <div>
          <dt>Size</dt>
          <dd>{integer(model.parameters)} parameters</dd>
        </div>
        <div>
          <dt>Input shape</dt>
          <dd className="mono">{shape(model.input_shape)}</dd>
        </div>
        <div>
          <dt>Output shape</dt>
          <dd className="mono">{shape(model.output_shape)}</dd>
        </div>
        <div>
          <dt>Layers</dt>
          <dd>{model.layers.length}</dd>
        </div>
      </dl>
      <h3 id="layers-title">Layers</h3>
      <div className="table-wrap">
        <table aria-labelledby="layers-title">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Class</th>
              <th scope="col" className="num">Parameters</th>
              <th scope="col">Output shape</th>
            </tr>
          </thead>
          <tbody>
            {model.layers.map((layer) => (
              <tr key={layer.name}>
                <td>{layer.name}</td>
                <td>{layer.class_name}</td>
                <td className="num">{integer(layer.parameters)}</td>
                <td className="mono">{shape(layer.output_shape)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  )
}

import { act, fireEvent, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { resetCsrf } from '../../../api/client'
import { page } from '../../../testing/authoring'
import { seriousViolations } from '../../../testing/axe'
import { json, result, stubFetch } from '../../../testing/fixtures'
import { renderAt } from '../../../testing/route'
import type { Inference, Predictions } from '../api/inferences'
import { linePoints } from '../lib/predictions'
import Inferences, { InferenceForm, InferenceView } from './Inferences'

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  resetCsrf()
})

function inference(overrides: Partial<Inference> = {}): Inference {
  return {
    id: 5, result: 7, model_name: 'mnist-cnn', status: 'running', error: '', replicas: 2, input_format: 'RAW',
    input_config: { data_type: 'float32', data_reshape: [8] }, input_topic: 'samples', output_topic: 'predictions',
    error_topic: 'predictions-errors', bootstrap_servers: 'kafka:9092', batch: null,
    created_at: '2025-01-01T12:00:00Z', stopped_at: null, ...overrides,
  }
}

function predictions(overrides: Partial<Predictions> = {}): Predictions {
  return {
    window: 100, read: 9, invalid: 1, complete: true, values: [],
    classes: [{ class_index: 0, count: 2 }, { class_index: 3, count: 6 }],
    partitions: [{ partition: 0, first: 10, last: 18 }], ...overrides,
  }
}

describe('the inference form', () => {
  function stub(post: (body: Record<string, unknown>) => Response) {
    const bodies: Record<string, unknown>[] = []
    stubFetch({
      'GET /api/results/': json(page([result({ id: 7, status: 'finished', model_sha256: 'f'.repeat(64) }),
        result({ id: 8, status: 'finished', model_sha256: '' })])),
      'POST /api/inferences/': async (_url: URL, _init: unknown, request: Request) => {
        const body = (await request.json()) as Record<string, unknown>
        bodies.push(body)
        return post(body)
      },
    })
    return bodies
  }

  const fill = (label: string, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } })

  async function open() {
    const view = renderAt('/inferences/new?result=7', '/inferences/new', InferenceForm)
    await screen.findByRole('button', { name: 'Deploy' })
    return view
  }

  it('deploys a finished training and opens the inference; only trainings with a final model are offered', async () => {
    const bodies = stub(() => json(inference({ id: 12 }), 201))
    const { location, container } = await open()
    expect((screen.getByLabelText('Training') as HTMLSelectElement).value).toBe('7')
    expect(screen.queryByRole('option', { name: /training 8/ })).toBeNull()
    // The example follows the format until the user writes their own configuration.
    await userEvent.selectOptions(screen.getByLabelText('Input format'), 'AVRO')
    expect((screen.getByLabelText('Input configuration (JSON)') as HTMLTextAreaElement).value).toContain('data_scheme')
    await userEvent.selectOptions(screen.getByLabelText('Input format'), 'RAW')
    fill('Input configuration (JSON)', '{"data_type": "float32", "data_reshape": "2 4"}')
    fill('Input topic', 'samples')
    fill('Output topic', 'predictions')
    expect(screen.getByLabelText('Error topic').getAttribute('placeholder')).toBe('predictions-errors')
    fill('Replicas', '2')
    fill('Batch', '64')
    expect(await seriousViolations(container)).toEqual([])
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
    await waitFor(() => expect(location.history.at(-1)).toBe('/inferences/12'))
    expect(bodies[0]).toEqual({
      result: 7, input_format: 'RAW', input_config: { data_type: 'float32', data_reshape: '2 4' }, input_topic: 'samples',
      output_topic: 'predictions', bootstrap_servers: '', replicas: 2, batch: 64,
    })
  })

  it('checks as the user types, and sends nothing invalid', async () => {
    const bodies = stub(() => json(inference(), 201))
    await open()
    fill('Input configuration (JSON)', '[1, 2')
    expect(screen.getByText(/Not valid JSON yet/)).toBeTruthy()
    fill('Input configuration (JSON)', '[1, 2]')
    expect(screen.getByText('Must be a JSON object ({…}).')).toBeTruthy()
    fill('Input topic', 'bad topic!')
    expect(screen.getByText(/A Kafka topic name/)).toBeTruthy()
    fill('Replicas', '33')
    expect(screen.getByText('Between 1 and 32.')).toBeTruthy()
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
    expect(bodies).toHaveLength(0)
    expect(screen.getAllByRole('alert')[0]!.textContent).toContain('Some settings need attention')
    expect(document.activeElement?.getAttribute('aria-invalid')).toBe('true')
  })

  it("places the backend's 400 by field, and shows a 409 or a 429 above the button", async () => {
    let answer = json({ input_config: ['the input configuration describes samples of shape (8,); the model takes (4,)'],
      output_topic: ['must differ from the input topic'] }, 400)
    stub(() => answer)
    await open()
    fill('Input topic', 'samples')
    fill('Output topic', 'predictions')
    await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
    const shape = await screen.findByText(/describes samples of shape/)
    expect(screen.getByLabelText('Input configuration (JSON)').getAttribute('aria-describedby')).toContain(shape.closest('ul')!.id)
    expect(screen.getByLabelText('Output topic').getAttribute('aria-invalid')).toBe('true')
    fill('Output topic', 'answers') // editing a field clears the backend's message about it
    expect(screen.queryByText('must differ from the input topic')).toBeNull()

    for (const [status, detail] of [[409, 'the training is running and has no final model to serve'],
      [429, 'your inferences run 4 replica(s) and this one adds 1; at most 4 at once']] as const) {
      answer = json({ detail }, status)
      fill('Input configuration (JSON)', `{"data_type": "float32", "data_reshape": [${status}]}`)
      await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
      expect((await screen.findByText(detail)).closest('[role="alert"]')).toBeTruthy()
    }
  })
})

describe('the inferences list', () => {
  it('shows status, model, topics and replicas; stops a running one and deletes an ended one', async () => {
    const items = [inference(), inference({ id: 6, status: 'failed', error: 'replica ended' })]
    const { seen } = stubFetch({
      'GET /api/inferences/': () => json(page(items)),
      'POST /api/inferences/5/stop/': () => {
        items[0] = inference({ status: 'stopped' })
        return json({ stopped: ['inference-5-0'] })
      },
      'DELETE /api/inferences/6/': () => {
        items.splice(1, 1)
        return new Response(null, { status: 204 })
      },
    })
    const { container } = renderAt('/inferences', '/inferences', Inferences)
    const table = await screen.findByRole('table', { name: /Your inferences/ })
    const running = within(table).getByRole('row', { name: /Inference 5/ })
    expect(running.textContent).toContain('mnist-cnn · training 7')
    expect(running.textContent).toContain('samples → predictions')
    expect(within(running).getByText('running')).toBeTruthy()
    expect(within(running).queryByRole('button', { name: /Delete/ })).toBeNull()
    expect(await seriousViolations(container)).toEqual([])

    await userEvent.click(within(running).getByRole('button', { name: 'Stop inference 5' }))
    await userEvent.click(screen.getByRole('button', { name: 'Yes, stop it' }))
    await within(table).findByText('stopped')
    expect(seen).toContain('POST /api/inferences/5/stop/')

    await userEvent.click(screen.getByRole('button', { name: 'Delete inference 6' }))
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete it' }))
    await waitFor(() => expect(screen.queryByText('Inference 6')).toBeNull())
  })

  it('says what to do when there is none', async () => {
    stubFetch({ 'GET /api/inferences/': json(page([])) })
    renderAt('/inferences', '/inferences', Inferences)
    expect(await screen.findByText(/choose “Deploy for inference”/)).toBeTruthy()
  })
})

describe('the live view', () => {
  it('draws the class counts and asks again while the inference runs', async () => {
    let served = predictions()
    const { seen } = stubFetch({
      'GET /api/inferences/5/': () => json(inference()),
      'GET /api/inferences/5/predictions/': () => json(served),
    })
    const { container } = renderAt('/inferences/5', '/inferences/:id', InferenceView)
    const live = await screen.findByRole('region', { name: 'Live predictions' })
    const table = await within(live).findByRole('table', { name: /Answers per predicted class/ })
    expect([...table.querySelectorAll('tbody tr')].map((row) => row.textContent)).toEqual(['0225.0 %', '3675.0 %'])
    expect([...live.querySelectorAll<HTMLElement>('.bar')].map((bar) => bar.style.width)).toEqual(['33.333333333333336%', '100%'])
    expect(live.textContent).toContain('9 answers read of the newest 100 (partition 0: 10–18); 1 not a prediction.')
    expect(await seriousViolations(container)).toEqual([])

    served = predictions({ classes: [{ class_index: 1, count: 4 }], read: 4, invalid: 0 })
    await within(live).findByText('class 1', {}, { timeout: 5000 }) // the next poll, without a reload
    await userEvent.selectOptions(within(live).getByLabelText('Newest answers'), '1000')
    await waitFor(() => expect(seen).toContain('GET /api/inferences/5/predictions/?window=1000'))
  })

  it('draws a regression as a line, and does not poll an ended inference', async () => {
    const { seen } = stubFetch({
      'GET /api/inferences/5/': () => json(inference({ status: 'stopped' })),
      'GET /api/inferences/5/predictions/': () => json(predictions({ classes: [], read: 3, invalid: 0, values: [[1, 9], [3], [2]] })),
    })
    const { container } = renderAt('/inferences/5', '/inferences/:id', InferenceView)
    expect(await screen.findByText(/The first output of the newest 3 regression answers/)).toBeTruthy()
    expect(container.querySelector('polyline')?.getAttribute('points')).toBe('0.00,40.00 50.00,0.00 100.00,20.00')
    expect(screen.queryByRole('table', { name: /Answers per predicted class/ })).toBeNull()
    await act(() => new Promise((resolve) => setTimeout(resolve, 3500)))
    expect(seen.filter((request) => request.includes('/predictions/'))).toHaveLength(1)
    expect(screen.queryByText(/Updated every/)).toBeNull()
  })

  it('says when no answer came yet', async () => {
    stubFetch({
      'GET /api/inferences/5/': () => json(inference()),
      'GET /api/inferences/5/predictions/': () => json(predictions({ classes: [], read: 0, invalid: 0, partitions: [] })),
    })
    renderAt('/inferences/5', '/inferences/:id', InferenceView)
    expect(await screen.findByText(/No answer on the output topic yet/)).toBeTruthy()
    expect(screen.getByText('Updated every 3 s.')).toBeTruthy()
  })

  it('stops the inference from its page, then deletes it and returns to the list', async () => {
    let status: Inference['status'] = 'running'
    stubFetch({
      'GET /api/inferences/5/': () => json(inference({ status })),
      'GET /api/inferences/5/predictions/': () => json(predictions()),
      'POST /api/inferences/5/stop/': () => {
        status = 'stopped'
        return json({ stopped: [] })
      },
      'DELETE /api/inferences/5/': () => new Response(null, { status: 204 }),
    })
    const { location } = renderAt('/inferences/5', '/inferences/:id', InferenceView)
    await userEvent.click(await screen.findByRole('button', { name: 'Stop inference 5' }))
    await userEvent.click(screen.getByRole('button', { name: 'Yes, stop it' }))
    await userEvent.click(await screen.findByRole('button', { name: 'Delete inference 5' })) // its page shows it stopped
    await userEvent.click(screen.getByRole('button', { name: 'Yes, delete it' }))
    await waitFor(() => expect(location.history.at(-1)).toBe('/inferences'))
  })

  it('shows why the answers cannot be read', async () => {
    stubFetch({
      'GET /api/inferences/5/': () => json(inference()),
      'GET /api/inferences/5/predictions/': () => json({ detail: "this inference answers on another Kafka than the platform's" }, 409),
    })
    renderAt('/inferences/5', '/inferences/:id', InferenceView)
    expect((await screen.findByRole('alert')).textContent).toContain('another Kafka')
  })
})

it('puts the first output of regression answers on a line, lowest at the bottom', () => {
  expect(linePoints([])).toBeNull()
  expect(linePoints([[1, 9], [3], [2]])).toEqual({ points: '0.00,40.00 50.00,0.00 100.00,20.00', low: 1, high: 3 })
  expect(linePoints([[5]])).toEqual({ points: '0.00,40.00', low: 5, high: 5 })
})

import { fireEvent, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from '../../../api/client'
import { configuration, datasource, deployment, page, STRATEGIES } from '../../../testing/authoring'
import { json, stubFetch } from '../../../testing/fixtures'
import { field } from '../../../testing/openapi'
import { renderAt } from '../../../testing/route'
import DeploymentForm from './DeploymentForm'
import { DEFAULTS, request, serverErrors, validate, type Values } from '../lib/rules'

afterEach(() => vi.unstubAllGlobals())

const ADDRESS_A = '0x' + 'a'.repeat(40)
const ADDRESS_B = '0x' + 'B'.repeat(40)
const fedasync = STRATEGIES.strategies[1]!

function stub(post?: (body: Record<string, unknown>) => Response) {
  const bodies: Record<string, unknown>[] = []
  const fetched = stubFetch({
    'GET /api/configurations/': json(page([configuration(), configuration({ id: 5, name: 'other' })])),
    'GET /api/datasources/': json(page([datasource()])),
    'GET /api/strategies/': json(STRATEGIES),
    'POST /api/deployments/': async (_url: URL, _init: unknown, request: Request) => {
      const body = (await request.json()) as Record<string, unknown>
      bodies.push(body)
      return post ? post(body) : json(deployment({ results: [21, 22] }), 201)
    },
  })
  return { ...fetched, bodies }
}

async function open(path = '/deployments/new?configuration=4') {
  const [pathname, search] = path.split('?')
  const view = renderAt(pathname + (search ? `?${search}` : ''), '/deployments/new', DeploymentForm)
  await screen.findByRole('button', { name: 'Deploy' })
  return view
}

function fill(label: string, value: string) {
  fireEvent.change(screen.getByLabelText(label), { target: { value } })
}

it('deploys with every setting and opens the training', async () => {
  const { bodies } = stub()
  const { location } = await open()
  expect((screen.getByLabelText('Configuration') as HTMLSelectElement).value).toBe('4')
  await userEvent.selectOptions(screen.getByLabelText('Validation datasource'), '2')
  expect((screen.getByLabelText('Coordination') as HTMLSelectElement).value).toBe('blockchain')
  fill('Rounds', '5')
  fill('Epochs', '2')
  fill('Batch size', '16')
  fill('Minimum data', '100')
  fill('Data restriction (JSON)', '{"region": "eu"}')
  // The strategy's parameters, their defaults explained; hinge's b only with staleness = hinge.
  expect((screen.getByLabelText('Strategy') as HTMLSelectElement).value).toBe('fedasync')
  expect(screen.getByLabelText('alpha').getAttribute('placeholder')).toBe('0.9')
  expect(screen.getByText(/Mixing weight α in \(0, 1\]/).textContent).toContain('Default: 0.9')
  expect(screen.queryByLabelText('b')).toBeNull()
  await userEvent.selectOptions(screen.getByLabelText('staleness'), 'hinge')
  fill('b', '2')
  fill('alpha', '0.6')
  await userEvent.selectOptions(screen.getByLabelText('Reward policy'), 'tiered')
  expect(screen.getByText('Pays a tier of the loss ratio.')).toBeTruthy()
  fill('Reward budget', '100')
  await userEvent.click(screen.getByRole('button', { name: 'Add client' }))
  expect(document.activeElement).toBe(screen.getByLabelText('Client 1 identity'))
  fill('Client 1 identity', ADDRESS_A)
  fill('Client 1 sample ceiling', '500')
  await userEvent.click(screen.getByRole('button', { name: 'Add client' }))
  fill('Client 2 identity', ADDRESS_B)
  fill('Client 2 sample ceiling', '700')
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))

  await waitFor(() => expect(location.history.at(-1)).toBe('/trainings/21'))
  expect(bodies[0]).toEqual({
    configuration: 4, kind: 'federated', validation_datasource: 2, coordination: 'blockchain', rounds: 5, epochs: 2, batch: 16,
    min_data: 100, data_restriction: { region: 'eu' }, fit_kwargs: {}, val_kwargs: {}, strategy: 'fedasync',
    strategy_params: { alpha: 0.6, staleness: 'hinge', b: 2 }, reward_policy: 'tiered', reward_base: '1',
    reward_budget: '100', reject_ratio: 1.5, exclude_after: 0, sample_weighting: 'capped',
    clients: [{ identity: ADDRESS_A, sample_ceiling: 500 }, { identity: ADDRESS_B, sample_ceiling: 700 }],
  })
})

it('switches kinds: a single or incremental training hides the federated sections and sends none of them', async () => {
  const { bodies } = stub()
  const { location } = await open()
  const federatedOnly = ['Coordination', 'Rounds', 'Minimum data', 'Strategy', 'Reward policy']
  for (const label of federatedOnly) expect(screen.getByLabelText(label)).toBeTruthy()
  expect(screen.getByRole('button', { name: 'Add client' })).toBeTruthy()

  await userEvent.selectOptions(screen.getByLabelText('Kind of training'), 'single')
  for (const label of federatedOnly) expect(screen.queryByLabelText(label)).toBeNull()
  expect(screen.queryByRole('button', { name: 'Add client' })).toBeNull()
  expect(screen.queryByLabelText('Window')).toBeNull()
  expect(screen.getByText(/trains each model itself on one datasource/)).toBeTruthy()
  await userEvent.selectOptions(screen.getByLabelText('Datasource to train on'), '2')
  fill('Epochs', '3')
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
  await waitFor(() => expect(location.history.at(-1)).toBe('/trainings/21'))
  expect(bodies[0]).toEqual({
    configuration: 4, kind: 'single', validation_datasource: 2, epochs: 3, batch: 32, fit_kwargs: {}, val_kwargs: {},
  })
})

it('an incremental training: its stream settings, checked with the limits of the schema', async () => {
  const { bodies } = stub()
  await open()
  // A federated field left invalid does not hold back a training that does not use it.
  fill('Rounds', '0')
  await userEvent.selectOptions(screen.getByLabelText('Kind of training'), 'incremental')
  await userEvent.selectOptions(screen.getByLabelText('Datasource to train on'), '2')
  const window = field('DeploymentInputRequest', 'window')
  expect(screen.getByText(`New records trained on at a time (1 to ${Number(window.maximum).toLocaleString('en-US')}). Default ${window.default}.`)).toBeTruthy()
  fill('Window', String(BigInt(window.maximum!) + 1n))
  expect(screen.getByText(`Between 1 and ${Number(window.maximum).toLocaleString('en-US')}.`)).toBeTruthy()
  fill('Stream timeout (seconds)', '-1')
  fill('Monitored metric', 'accuracy')
  expect(screen.getByText(/A validation metric of the model/)).toBeTruthy()
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
  expect(bodies).toHaveLength(0)
  expect(screen.getByLabelText('Stream timeout (seconds)').getAttribute('aria-invalid')).toBe('true')

  fill('Window', '200')
  fill('Stream timeout (seconds)', '30')
  fill('Monitored metric', 'val_accuracy')
  await userEvent.selectOptions(screen.getByLabelText('Better when'), 'max')
  fill('Required improvement', '0.01')
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
  await waitFor(() => expect(bodies).toHaveLength(1))
  expect(bodies[0]).toEqual({
    configuration: 4, kind: 'incremental', validation_datasource: 2, epochs: 1, batch: 32, fit_kwargs: {},
    val_kwargs: {}, stream_timeout_s: 30, window: 200, monitor_metric: 'val_accuracy', monitor_mode: 'max',
    improvement: 0.01,
  })
})

it('bounds its number inputs as the API does', async () => {
  stub()
  await open()
  const inputs = { Rounds: 'rounds', Epochs: 'epochs', 'Batch size': 'batch', 'Minimum data': 'min_data' } as const
  for (const [label, key] of Object.entries(inputs)) {
    const { minimum, maximum } = field('DeploymentInputRequest', key)
    const input = screen.getByLabelText(label)
    expect([label, input.getAttribute('min'), input.getAttribute('max')]).toEqual([label, String(minimum), String(maximum)])
  }
  expect(screen.getByText(`New global versions to make (1 to 100,000). Default 10.`)).toBeTruthy()
})

it('checks the settings as the user types, with the serializer limits', async () => {
  const { bodies } = stub()
  await open()
  fill('Rounds', '100001')
  expect(screen.getByText('Between 1 and 100,000.')).toBeTruthy()
  expect(screen.getByLabelText('Rounds').getAttribute('aria-invalid')).toBe('true')
  fill('Rounds', '3')
  expect(screen.queryByText('Between 1 and 100,000.')).toBeNull()
  fill('Fit arguments (JSON)', '[1, 2]')
  expect(screen.getByText(/Must be a JSON object/)).toBeTruthy()
  fill('Reward budget', '1.5.2')
  expect(screen.getByText(/A non-negative amount of tokens/)).toBeTruthy()
  fill('alpha', 'lots')
  expect(screen.getByText(/Enter a number, or leave empty/)).toBeTruthy()

  await userEvent.click(screen.getByRole('button', { name: 'Add client' }))
  fill('Client 1 identity', 'not-an-address')
  fireEvent.blur(screen.getByLabelText('Client 1 identity'))
  expect(screen.getByText(/Must be a 0x address/)).toBeTruthy()
  await userEvent.selectOptions(screen.getByLabelText('Coordination'), 'classic')
  expect(screen.queryByText(/Must be a 0x address/)).toBeNull() // a client id now
  fill('Client 1 identity', 'bad id!')
  expect(screen.getByText(/Must be a client id/)).toBeTruthy()

  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
  expect(bodies).toHaveLength(0)
  expect(screen.getAllByRole('alert').map((item) => item.textContent).join(' ')).toContain('Some settings need attention')
  expect(screen.getByText('Choose the data the platform validates on.')).toBeTruthy()
  expect(document.activeElement?.getAttribute('aria-invalid')).toBe('true')
})

it("shows the backend's field errors next to their fields, nested ones included", async () => {
  stub(() =>
    json({
      reward_base: ['1e999 must be a non-negative amount with at most 18 decimals'],
      strategy_params: ["fedasync: parameter 'alpha' must be in (0, 1], got 0.0"],
      clients: [{}, { sample_ceiling: ['Ensure this value is less than or equal to 4294967295.'] }],
    }, 400),
  )
  await open()
  await userEvent.selectOptions(screen.getByLabelText('Validation datasource'), '2')
  fill('alpha', '0.0')
  for (const [index, identity] of [ADDRESS_A, ADDRESS_B].entries()) {
    await userEvent.click(screen.getByRole('button', { name: 'Add client' }))
    fill(`Client ${index + 1} identity`, identity)
    fill(`Client ${index + 1} sample ceiling`, '10')
  }
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))

  const alpha = await screen.findByText(/parameter 'alpha' must be in/)
  expect(screen.getByLabelText('alpha').getAttribute('aria-describedby')).toContain(alpha.closest('ul')!.id)
  const ceiling = screen.getByText(/less than or equal to 4294967295/)
  expect(screen.getByLabelText('Client 2 sample ceiling').getAttribute('aria-describedby')).toContain(ceiling.closest('ul')!.id)
  expect(screen.getByLabelText('Client 1 sample ceiling').getAttribute('aria-invalid')).toBeNull()
  expect(screen.getByLabelText('Reward base').getAttribute('aria-invalid')).toBe('true')
  // Editing a field clears the backend's message about it.
  fill('alpha', '0.5')
  expect(screen.queryByText(/parameter 'alpha' must be in/)).toBeNull()
})

it('reports a refusal that is not about a field', async () => {
  stub(() => json({ detail: 'A service the platform depends on is not reachable or not configured.' }, 503))
  await open()
  await userEvent.selectOptions(screen.getByLabelText('Validation datasource'), '2')
  await userEvent.click(screen.getByRole('button', { name: 'Deploy' }))
  expect((await screen.findByRole('alert')).textContent).toContain('not reachable')
})

it('says what to do when there is no configuration', async () => {
  stubFetch({
    'GET /api/configurations/': json(page([])),
    'GET /api/datasources/': json(page([])),
    'GET /api/strategies/': json(STRATEGIES),
  })
  renderAt('/deployments/new', '/deployments/new', DeploymentForm)
  expect(await screen.findByRole('link', { name: 'create a configuration' })).toBeTruthy()
})

describe('rules', () => {
  const valid: Values = {
    ...DEFAULTS,
    configuration: '4',
    validation_datasource: '2',
    clients: [{ key: 1, identity: ADDRESS_A, ceiling: '10' }],
  }

  it('accepts the defaults and sends only the parameters the user set', () => {
    expect(validate(valid, fedasync)).toEqual({})
    expect(request(valid, fedasync).strategy_params).toEqual({})
    const hinge = { ...valid, strategy_params: { staleness: 'hinge', a: '', b: '3' } }
    expect(request(hinge, fedasync).strategy_params).toEqual({ staleness: 'hinge', b: 3 })
    // b does not apply (nor is sent) with the default polynomial staleness
    expect(request({ ...valid, strategy_params: { b: '3' } }, fedasync).strategy_params).toEqual({})
  })

  it('mirrors the serializer limits', () => {
    const errors = validate({
      ...valid, epochs: '0', batch: '1000001', min_data: String(2n ** 62n + 1n), reject_ratio: '0.5',
      exclude_after: '1000001', reward_base: '0.' + '1'.repeat(19),
      clients: [{ key: 1, identity: ADDRESS_A, ceiling: '4294967296' }, { key: 2, identity: ADDRESS_A.toUpperCase().replace('0X', '0x'), ceiling: '1' }],
    }, fedasync)
    expect(Object.keys(errors).sort()).toEqual([
      'batch', 'clients.0.sample_ceiling', 'clients.1.identity', 'epochs', 'exclude_after', 'min_data', 'reject_ratio',
      'reward_base',
    ])
    expect(errors['clients.1.identity']).toEqual(['This client is listed twice.'])
    expect(validate({ ...valid, coordination: 'classic', clients: [{ key: 1, identity: 'site-1', ceiling: '5' }] }, fedasync)).toEqual({})
  })

  it('places the serializer messages on the rows and parameters they name', () => {
    const error = new ApiError(400, {
      clients: ["'site 2' is not a client id"],
      strategy_params: ["fedasync: unknown parameter(s) zeta (allowed: alpha, staleness, a)", "fedasync: parameter 'a' must be a number, got 'x'"],
      rounds: ['Ensure this value is less than or equal to 100000.'],
    })
    const values = { ...valid, clients: [{ key: 1, identity: 'site-1', ceiling: '1' }, { key: 2, identity: 'site 2', ceiling: '1' }] }
    expect(serverErrors(error, values, ['alpha', 'staleness', 'a'])).toEqual({
      rounds: ['Ensure this value is less than or equal to 100000.'],
      'clients.1.identity': ["'site 2' is not a client id"],
      strategy_params: ['fedasync: unknown parameter(s) zeta (allowed: alpha, staleness, a)'],
      'strategy_params.a': ["fedasync: parameter 'a' must be a number, got 'x'"],
    })
  })
})

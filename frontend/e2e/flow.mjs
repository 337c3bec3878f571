/**
 * The user's whole path in a real browser, against a real platform (backend, brokers, chain and two
 * clients' services, started by tests/backend/test_web_ui.py):
 *
 *   sign in (by keyboard) → a model in the editor (first a broken one: built in the background,
 *   the builder's error marked at its line; then fixed, rebuilt, its summary) → a configuration → the deployment form's kinds
 *   (single and incremental hide the federated fields) → a blockchain deployment for two clients → the training page shows
 *   the rounds as they arrive (each within 2 s of the API having it, no reload) → tokens →
 *   lineage → Verify: all versions identical → download the model (its SHA-256 as shown) → the
 *   API docs page (Swagger UI, its files served by the platform itself).
 *
 * Every page visited is checked with axe-core (no serious or critical violation) and at phone
 * width (no sideways overflow), and whatever the Content-Security-Policy refuses on any page is
 * recorded; screenshots go to the directory given. Usage:
 *
 *   node e2e/flow.mjs <config.json>   config: {url, username, password, modelName, modelSource,
 *                                      brokenSource, brokenLine, validation, clients: [{identity, ceiling}],
 *                                      rounds, screenshots, summary}
 *
 * The summary file gets {resultId, modelSha256, downloadedSha256, versions, roundLagsMs, pages,
 * violations, overflow, cspViolations, apiDocsTitle}; the exit status is 0 only when every step passed.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LAPTOP, PHONE, horizontalOverflow, launch, seriousViolations } from './browser.mjs'

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
mkdirSync(config.screenshots, { recursive: true })
const summary = { pages: [], violations: {}, overflow: [], roundLagsMs: [], cspViolations: [] }
const STEP_TIMEOUT = 30_000
const BUILD_TIMEOUT = 180_000 // the builder's own limit is 120 s; a build may wait in the queue first

function step(name) {
  process.stdout.write(`[e2e] ${name}\n`)
}

/** Check the page as it is now (axe, phone width) and keep a screenshot of it. */
async function inspect(page, name) {
  await page.waitForLoadState('networkidle').catch(() => {})
  summary.pages.push(name)
  const violations = await seriousViolations(page)
  if (violations.length) summary.violations[name] = violations
  await page.screenshot({ path: join(config.screenshots, `${name}.png`), fullPage: true })
  await page.setViewportSize(PHONE)
  await page.waitForTimeout(150)
  const overflow = await horizontalOverflow(page)
  if (overflow) summary.overflow.push({ page: name, elements: overflow })
  await page.screenshot({ path: join(config.screenshots, `${name}-phone.png`), fullPage: false })
  await page.setViewportSize(LAPTOP)
}

async function signIn(page) {
  step('sign in with the keyboard only')
  await page.goto(config.url)
  await page.getByLabel('User name').focus()
  await page.keyboard.type(config.username)
  await page.keyboard.press('Tab')
  await page.keyboard.type(config.password)
  await page.keyboard.press('Enter')
  await page.getByRole('button', { name: 'Sign out' }).waitFor({ timeout: STEP_TIMEOUT })
}

async function typeSource(page, source) {
  const editor = page.getByLabel('Model source')
  await editor.click()
  await page.keyboard.press('Control+A')
  await page.keyboard.press('Delete')
  await page.keyboard.insertText(source)
}

async function createModel(page) {
  step('a model in the editor: saved at once, built in the background; the builder error first, then a fixed source')
  await page.getByRole('link', { name: 'Models', exact: true }).click()
  await page.getByRole('link', { name: 'New model' }).click()
  await page.getByLabel('Name', { exact: true }).fill(config.modelName)
  await page.getByLabel('Description').fill('end-to-end model')
  await typeSource(page, config.brokenSource)
  await page.getByRole('button', { name: 'Save model' }).click()
  await page.waitForURL(/\/models\/\d+$/, { timeout: STEP_TIMEOUT })
  await page.getByText('failed at line', { exact: false }).first().waitFor({ timeout: BUILD_TIMEOUT })
  const alert = (await page.getByRole('alert').first().textContent()) ?? ''
  if (!alert.startsWith(`Line ${config.brokenLine}:`)) throw new Error(`the build error is not at line ${config.brokenLine}: ${alert}`)
  const marked = await page.locator('.cm-line').evaluateAll((lines) => lines.findIndex((line) => line.classList.contains('cm-error-line')))
  if (marked !== config.brokenLine - 1) throw new Error(`the editor marks line ${marked + 1}, not ${config.brokenLine}`)
  await inspect(page, 'model-error')
  await typeSource(page, config.modelSource)
  await page.getByRole('button', { name: 'Save model' }).click()
  await page.getByRole('heading', { name: 'Summary' }).waitFor({ timeout: BUILD_TIMEOUT })
  await page.getByText(/parameters/).first().waitFor()
  await inspect(page, 'model-summary')
}

async function createConfiguration(page) {
  step('a configuration of that model')
  await page.getByRole('link', { name: 'Configurations', exact: true }).click()
  await page.getByRole('link', { name: 'New configuration' }).or(page.getByRole('button', { name: 'New configuration' })).click()
  await page.getByLabel('Name', { exact: true }).fill(`${config.modelName}-configuration`)
  await page.getByLabel(config.modelName, { exact: true }).check()
  await page.getByRole('button', { name: 'Create configuration' }).click()
  const row = page.getByRole('row').filter({ hasText: `${config.modelName}-configuration` })
  await row.waitFor({ timeout: STEP_TIMEOUT })
  await inspect(page, 'configurations')
  await row.getByRole('link', { name: 'Deploy' }).click()
}

/** The identity field's own error (the clients' help text above the rows speaks of addresses too). */
const IDENTITY_PROBLEM = 'Must be a 0x address'

/** A wrong identity is refused as the user types: the field is marked invalid and its error is shown next to it. */
async function refusesAWrongIdentity(page) {
  await page.getByRole('button', { name: 'Add client' }).click()
  const identity = page.getByLabel('Client 1 identity')
  await identity.fill('not-an-address')
  await identity.blur()
  const field = page.locator('.field').filter({ has: identity })
  await field.locator('.field-errors').getByText(IDENTITY_PROBLEM).waitFor({ timeout: 5_000 })
  if ((await identity.getAttribute('aria-invalid')) !== 'true') throw new Error('the wrong identity is not marked invalid')
}

/** A single training hides the federated sections, an incremental one adds its stream settings; back to federated. */
async function switchesKinds(page) {
  const kind = page.getByLabel('Kind of training')
  await kind.selectOption('single')
  await page.getByLabel('Datasource to train on').waitFor({ timeout: 5_000 })
  for (const label of ['Coordination', 'Rounds', 'Reward policy']) {
    if (await page.getByLabel(label, { exact: true }).count()) throw new Error(`a single training's form shows ${label}`)
  }
  await kind.selectOption('incremental')
  await page.getByLabel('Window', { exact: true }).waitFor({ timeout: 5_000 })
  await kind.selectOption('federated')
  await page.getByLabel('Rounds', { exact: true }).waitFor({ timeout: 5_000 })
  if (await page.getByLabel('Window', { exact: true }).count()) throw new Error('a federated training shows the window')
}

async function deploy(page) {
  step('a blockchain deployment for two clients')
  await page.getByRole('button', { name: 'Deploy' }).waitFor({ timeout: STEP_TIMEOUT })
  await switchesKinds(page)
  const validation = page.getByLabel('Validation datasource')
  const option = validation.locator('option').filter({ hasText: config.validation })
  await validation.selectOption(await option.first().getAttribute('value'))
  await page.getByLabel('Coordination').selectOption('blockchain').catch(async () => {
    await page.getByRole('radio', { name: 'blockchain' }).check()
  })
  await page.getByLabel('Rounds', { exact: true }).fill(String(config.rounds))
  await page.getByLabel('Epochs', { exact: true }).fill('1')
  await page.getByLabel('Batch size', { exact: true }).fill('32')
  await page.getByLabel('Reward budget').fill('100')
  await refusesAWrongIdentity(page)
  for (const [index, client] of config.clients.entries()) {
    if (index > 0) await page.getByRole('button', { name: 'Add client' }).click()
    await page.getByLabel(`Client ${index + 1} identity`).fill(client.identity)
    await page.getByLabel(`Client ${index + 1} sample ceiling`).fill(String(client.ceiling))
  }
  await page.getByText(IDENTITY_PROBLEM).waitFor({ state: 'detached', timeout: 5_000 })
  await inspect(page, 'deployment-form')
  await page.getByRole('button', { name: 'Deploy' }).click()
  await page.waitForURL(/\/trainings\/\d+$/, { timeout: 120_000 })
  summary.resultId = Number(page.url().match(/\/trainings\/(\d+)$/)[1])
}

/** Every round the API has must be on the page within 2 s of the API having it, without a reload. */
async function watchRounds(page) {
  step('the training page: rounds arrive live')
  const started = page.url()
  const shown = new Set()
  const deadline = Date.now() + 600_000
  while (Date.now() < deadline) {
    // The status first: once it says the training ended, the rounds read after it are all of them.
    const result = await (await page.request.get(`${config.url}/api/results/${summary.resultId}/`)).json()
    const answer = await page.request.get(`${config.url}/api/results/${summary.resultId}/rounds/`)
    const versions = (await answer.json()).map((round) => round.version)
    for (const version of versions.filter((v) => !shown.has(v))) {
      const seen = Date.now()
      await page.getByText(`v${version}`, { exact: true }).first().waitFor({ timeout: 2_000 })
      summary.roundLagsMs.push(Date.now() - seen)
      shown.add(version)
      if (shown.size === 1) await inspect(page, 'training-live')
    }
    if (result.status !== 'running' && result.status !== 'created') break
    await page.waitForTimeout(250)
  }
  if (page.url() !== started) throw new Error(`the training page navigated away (${page.url()})`)
  summary.versions = [...shown].sort((a, b) => a - b)
  await page.getByText('finished', { exact: true }).first().waitFor({ timeout: 180_000 })
}

async function tokensAndDownload(page) {
  step('tokens per client, then the final model download with its SHA-256')
  await page.getByRole('heading', { name: 'Tokens' }).waitFor()
  await page.getByRole('heading', { name: 'Transactions' }).waitFor()
  // The validation chart draws its lines (Recharts with the app's subset of d3 scales).
  const curve = await page.locator('.recharts-line-curve').first().getAttribute('d', { timeout: STEP_TIMEOUT })
  if (!curve || !curve.startsWith('M')) throw new Error(`the validation chart draws no line: ${curve}`)
  const link = page.getByRole('link', { name: 'Download model' })
  await link.waitFor({ timeout: STEP_TIMEOUT })
  await inspect(page, 'training-finished')
  const result = await (await page.request.get(`${config.url}/api/results/${summary.resultId}/`)).json()
  summary.modelSha256 = result.model_sha256
  await page.getByText(result.model_sha256).first().waitFor()
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()])
  const path = await download.path()
  summary.downloadedSha256 = createHash('sha256').update(readFileSync(path)).digest('hex')
}

async function verify(page) {
  step('lineage and Verify')
  await page.getByRole('link', { name: 'Lineage and audit' }).click()
  await page.getByRole('button', { name: 'Verify' }).click()
  const verdict = page.getByRole('status').filter({ hasText: /identical|mismatch/ })
  await verdict.waitFor({ timeout: 240_000 })
  summary.verdict = (await verdict.first().textContent()).trim()
  await inspect(page, 'lineage')
}

/** The REST API's interactive page: Swagger UI renders the platform's schema. */
async function apiDocs(page) {
  step('API docs')
  await page.goto(`${config.url}/api/docs/`)
  const title = page.locator('.swagger-ui .info .title').first()
  await title.waitFor({ timeout: STEP_TIMEOUT })
  summary.apiDocsTitle = (await title.textContent()).trim()
}

async function visit(page, section, name) {
  await page.getByRole('link', { name: section, exact: true }).click()
  await page.getByRole('heading', { level: 1 }).waitFor()
  await inspect(page, name)
}

const browser = await launch()
let failure = null
try {
  const context = await browser.newContext({ viewport: LAPTOP, acceptDownloads: true })
  const page = await context.newPage()
  page.on('pageerror', (error) => (summary.pageErrors ??= []).push(String(error)))
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      summary.cspViolations.push(`${page.url()}: ${message.text()}`)
    }
  })
  await signIn(page)
  await createModel(page)
  await createConfiguration(page)
  await deploy(page)
  await watchRounds(page)
  await tokensAndDownload(page)
  await verify(page)
  for (const [section, name] of [['Trainings', 'trainings'], ['Models', 'models'], ['Deployments', 'deployments'],
    ['Inferences', 'inferences'], ['Datasources', 'datasources'], ['Clients', 'clients']]) {
    await visit(page, section, name)
  }
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.getByRole('button', { name: 'Sign in' }).waitFor()
  await inspect(page, 'sign-in')
  await apiDocs(page)
} catch (error) {
  failure = error
  summary.error = String(error.stack ?? error)
} finally {
  writeFileSync(config.summary, JSON.stringify(summary, null, 2))
  await browser.close()
}
if (failure) {
  console.error(failure)
  process.exit(1)
}

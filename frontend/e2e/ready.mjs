/**
 * Time until a finished training's page is fully drawn, for benchmarks/ui.py.
 *
 *   node e2e/ready.mjs <url> <user> <password> <result id> <rounds> <clients> <repetitions> <failure screenshot>
 *
 * Signs in once, then loads /trainings/<id> `repetitions` times in the same browser context (its
 * HTTP cache kept, as for a user coming back) and measures, in the page's own clock, the time from
 * navigation start to the first animation frame at which everything is drawn: the last round
 * (`v<rounds>`) in the rounds table, the lines of the charts, a token bar for each of the
 * `clients`, the page's own ready mark (result, rounds and chain answered) and no loading
 * indicator left. Prints {"ready_ms": [...]} as its last line. A page that does not get drawn
 * leaves a screenshot at <failure screenshot> (a path outside the source tree).
 */
import { launch, LAPTOP } from './browser.mjs'

const [url, username, password, resultId, rounds, clients, repetitions, failureScreenshot] = process.argv.slice(2)
if (!failureScreenshot) {
  console.error('usage: node e2e/ready.mjs <url> <user> <password> <result id> <rounds> <clients> <repetitions> <failure screenshot>')
  process.exit(2)
}

/** What "fully drawn" consists of, each true or false (installed in every page as window.__drawnConditions). */
function conditions({ lastRound, clientCount }) {
  return {
    readyMark: document.querySelector('[data-ready="true"]') !== null,
    lastRound: [...document.querySelectorAll('td, th')].some((cell) => cell.textContent.trim() === lastRound),
    chartLines: document.querySelectorAll('.recharts-line-curve').length >= 2,
    tokenBars: document.querySelectorAll('[data-token-client]').length >= clientCount,
    notLoading: !document.querySelector('[role="status"][aria-busy="true"]') && !/Loading /.test(document.body.innerText),
  }
}

/** The page's clock when everything is drawn, else null (polled at every animation frame). */
function drawnAt(expected) {
  const state = window.__drawnConditions(expected)
  return Object.values(state).every(Boolean) ? performance.now() : null
}

const browser = await launch()
try {
  const context = await browser.newContext({ viewport: LAPTOP })
  await context.addInitScript(`window.__drawnConditions = ${conditions.toString()}`)
  const page = await context.newPage()
  await page.goto(url)
  await page.getByLabel('User name').fill(username)
  await page.getByLabel('Password').fill(password)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('button', { name: 'Sign out' }).waitFor()
  const ready = []
  for (let index = 0; index < Number(repetitions); index++) {
    await page.goto(`${url}/trainings/${resultId}`)
    const handle = await page
      .waitForFunction(drawnAt, { lastRound: `v${rounds}`, clientCount: Number(clients) }, { polling: 'raf', timeout: 30_000 })
      .catch(async (error) => {
        const missing = await page.evaluate((expected) => window.__drawnConditions(expected), { lastRound: `v${rounds}`, clientCount: Number(clients) })
        await page.screenshot({ path: failureScreenshot, fullPage: true })
        throw new Error(`the page was not drawn (${JSON.stringify(missing)}; screenshot ${failureScreenshot}): ${error}`)
      })
    ready.push(Math.round((await handle.jsonValue()) * 10) / 10)
  }
  console.log(JSON.stringify({ ready_ms: ready }))
} finally {
  await browser.close()
}

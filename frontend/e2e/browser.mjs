/**
 * The browser the end-to-end run and the UI benchmark drive: Debian's Chromium through
 * playwright-core (no browser is downloaded), headless, with the machine's closed network in mind
 * (background networking off), and axe-core injected from node_modules for accessibility checks
 * (evaluated through the DevTools protocol: an inline script tag would be refused by the pages'
 * Content-Security-Policy, which the runs check too).
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { chromium } from 'playwright-core'

const require = createRequire(import.meta.url)
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8')

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const LAPTOP = { width: 1366, height: 900 }
export const PHONE = { width: 390, height: 844 }

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  })
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.1 A and AA rules). */
export async function seriousViolations(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE)
  const results = await page.evaluate(() =>
    window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  )
  return results.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => ({
      id: violation.id,
      impact: violation.impact,
      help: violation.help,
      targets: violation.nodes.slice(0, 5).map((node) => node.target.join(' ')),
    }))
}

/**
 * When the page is wider than its viewport (content cut off or scrolled sideways at phone width),
 * the innermost elements that stick out (what to fix); else null.
 */
export async function horizontalOverflow(page) {
  return page.evaluate(() => {
    if (document.documentElement.scrollWidth <= window.innerWidth + 1) return null
    const outside = [...document.body.querySelectorAll('*')].filter((element) => {
      if (element.closest('.table-wrap, .cm-editor')) return false // these scroll inside themselves
      return element.getBoundingClientRect().right > window.innerWidth + 1
    })
    const innermost = outside.filter((element) => !outside.some((other) => other !== element && element.contains(other)))
    return innermost.slice(0, 5).map((element) =>
      `${element.tagName.toLowerCase()}.${[...element.classList].join('.')} "${(element.textContent ?? '').trim().slice(0, 40)}"`)
  })
}

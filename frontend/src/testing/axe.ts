/** axe-core's serious and critical violations in a rendered component (jsdom: no colour contrast). */
import { act } from '@testing-library/react'
import axe from 'axe-core'

export async function seriousViolations(root: Element): Promise<string[]> {
  let results: axe.AxeResults | undefined
  await act(async () => {
    results = await axe.run(root, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      rules: { 'color-contrast': { enabled: false } },
    })
  })
  return results!.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`)
}

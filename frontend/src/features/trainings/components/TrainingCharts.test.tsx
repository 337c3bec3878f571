import { render } from '@testing-library/react'
import { expect, it } from 'vitest'
import { CLIENTS } from '../../../testing/fixtures'
import type { TokenRow } from '../lib/training'
import { TokenChart } from './TrainingCharts'

function row(client: string, earned: number, paid: number): TokenRow {
  return { client, earned: '0', paid: '0', balance: null, ceiling: null, earnedTokens: earned, paidTokens: paid }
}

it('draws one bar row per client, scaled to the largest amount, paid beside earned when known', () => {
  const { container, rerender } = render(<TokenChart rows={[row(CLIENTS[0]!, 2, 1), row(CLIENTS[1]!, 0.5, 0.5)]} paid />)
  const rows = container.querySelectorAll('[data-token-client]')
  expect([...rows].map((element) => element.getAttribute('data-token-client'))).toEqual([CLIENTS[0], CLIENTS[1]])
  const widths = [...container.querySelectorAll<HTMLElement>('.bar')].map((bar) => bar.style.width)
  expect(widths).toEqual(['100%', '50%', '25%', '25%'])
  expect(container.textContent).toContain('Paid')

  rerender(<TokenChart rows={[row(CLIENTS[0]!, 0, 0)]} paid={false} />)
  expect([...container.querySelectorAll<HTMLElement>('.bar')].map((bar) => bar.style.width)).toEqual(['0%'])
  expect(container.textContent).not.toContain('Paid')
})

/** Recharts' d3 scales go through the app's subset (vite.config.ts): the ones its charts draw with, nothing else. */
import * as scales from 'victory-vendor/d3-scale'
import { expect, it } from 'vitest'

it('gives Recharts the point, band and linear scales only', () => {
  expect(Object.keys(scales).sort()).toEqual(['scaleBand', 'scaleLinear', 'scalePoint'])
  expect(scales.scaleLinear().domain([0, 1]).range([0, 100])(0.25)).toBe(25)
  expect(scales.scalePoint().domain(['1', '2', '3']).range([0, 10])('2')).toBe(5)
})

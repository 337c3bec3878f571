import { expect, it } from 'vitest'
import { countsText, shapeText } from './datasource'

it('writes datasource counts and shapes', () => {
  expect(countsText({ train: 8000, validation: 1000, test: 0 })).toBe('train 8,000 · validation 1,000 · test 0')
  expect(countsText(null)).toBe('–')
  expect(shapeText([null, 28, 28, 1])).toBe('? × 28 × 28 × 1')
  expect(shapeText('x')).toBe('–')
})

import { describe, expect, it } from 'vitest'
import { percent, seconds, short, tokenNumber, tokens } from './format'

describe('format', () => {
  it('shows 18-decimal token base units exactly, beyond what a float holds', () => {
    expect(tokens('1500000000000000000')).toBe('1.5000')
    expect(tokens('123456789012345678901234567890', 2)).toBe('123456789012.34')
    expect(tokens('7')).toBe('0.0000')
    expect(tokens(null)).toBe('–')
    expect(tokens('-1')).toBe('–')
    expect(tokenNumber('2500000000000000000')).toBeCloseTo(2.5)
  })

  it('shortens hashes and keeps short values whole', () => {
    expect(short('0x' + 'ab'.repeat(32))).toBe('0xabababab…abab')
    expect(short('0x1234')).toBe('0x1234')
    expect(short('')).toBe('–')
  })

  it('formats percentages and durations', () => {
    expect(percent(0.8712)).toBe('87.1 %')
    expect(percent(null)).toBe('–')
    expect(seconds(12.34)).toBe('12.3 s')
    expect(seconds(125)).toBe('2 min 5 s')
  })
})

/** The checks the forms share, worded as their fields show them. */

export const grouped = (value: bigint | number) => value.toLocaleString('en-US')

/** A whole number within [low, high] (bigints: some limits exceed 2^53), or why not. */
export function wholeNumber(text: string, [low, high]: readonly [bigint, bigint]): string | null {
  const trimmed = text.trim()
  if (!/^\d+$/.test(trimmed)) return trimmed === '' ? 'Required.' : 'Enter a whole number.'
  const value = BigInt(trimmed)
  if (value < low || value > high) return `Between ${grouped(low)} and ${grouped(high)}.`
  return null
}

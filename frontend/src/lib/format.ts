/** How numbers, hashes, token amounts and times read on screen. */

const TOKEN_DECIMALS = 18n

/** Token base units (a decimal string of 18-decimal units) as tokens, e.g. "0.5123". */
export function tokens(baseUnits: string | null | undefined, digits = 4): string {
  if (baseUnits === null || baseUnits === undefined || !/^[0-9]+$/.test(baseUnits)) return '–'
  const value = BigInt(baseUnits)
  const unit = 10n ** TOKEN_DECIMALS
  const whole = value / unit
  const fraction = (value % unit).toString().padStart(Number(TOKEN_DECIMALS), '0').slice(0, digits)
  return digits > 0 ? `${whole}.${fraction}` : whole.toString()
}

/** Token base units as a float (for charts only: exact amounts are shown with `tokens`). */
export function tokenNumber(baseUnits: string | null | undefined): number {
  return baseUnits && /^[0-9]+$/.test(baseUnits) ? Number(BigInt(baseUnits) / 10n ** 12n) / 1e6 : 0
}

/** A hash or address shortened for a table cell; the full value goes in a title attribute. */
export function short(value: string | null | undefined, keep = 8): string {
  if (!value) return '–'
  const body = value.startsWith('0x') ? value.slice(2) : value
  return body.length <= keep * 2 ? value : `${value.startsWith('0x') ? '0x' : ''}${body.slice(0, keep)}…${body.slice(-4)}`
}

export function percent(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : `${(value * 100).toFixed(1)} %`
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined) return '–'
  return value < 60 ? `${value.toFixed(1)} s` : `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '–'
}

export function integer(value: number | null | undefined): string {
  return value === null || value === undefined ? '–' : value.toLocaleString('en-US')
}

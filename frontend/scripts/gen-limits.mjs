/**
 * Writes src/api/limits.ts: one constant per request body of backend/openapi.yaml with its fields'
 * limits and defaults (minimum, maximum, minLength, maxLength, minItems, maxItems, pattern, default), so that
 * the forms check what the backend checks without repeating its numbers; one constant each, so
 * that the build keeps only those a page uses. Integer bounds are bigints: some exceed
 * 2^53 (a 64-bit id, a sample count of 2^62) and would be rounded as numbers.
 *
 *   node scripts/gen-limits.mjs [output]   (run by `npm run gen:api`)
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

const here = dirname(fileURLToPath(import.meta.url))
const KEYS = ['minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern', 'default']

function literal(value, integer) {
  if (typeof value === 'bigint') return integer ? `${value}n` : String(value)
  return JSON.stringify(value)
}

function propertyLimits(property) {
  const integer = property.type === 'integer'
  const found = KEYS.filter((key) => property[key] !== undefined).map(
    (key) => `${key}: ${literal(property[key], integer && (key === 'minimum' || key === 'maximum'))}`,
  )
  return found.length ? `{ ${found.join(', ')} }` : null
}

const schemas = parse(readFileSync(resolve(here, '../../backend/openapi.yaml'), 'utf8'), { intAsBigInt: true }).components
  .schemas
const lines = []
for (const [name, schema] of Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))) {
  if (!name.endsWith('Request')) continue
  const fields = Object.entries(schema.properties ?? {})
    .map(([field, property]) => [field, propertyLimits(property)])
    .filter(([, limits]) => limits !== null)
  if (!fields.length) continue
  lines.push(`export const ${name} = {`, ...fields.map(([field, limits]) => `  ${field}: ${limits},`), '} as const', '')
}
const output = process.argv[2] ?? resolve(here, '../src/api/limits.ts')
writeFileSync(
  output,
  [
    '// Generated from backend/openapi.yaml by scripts/gen-limits.mjs (`npm run gen:api`); do not edit.',
    '// Each request body\'s field limits and defaults, as the backend validates them.',
    '',
    ...lines,
  ].join('\n'),
)

/** The backend's committed OpenAPI schema, read as the backend publishes it (tests only). */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse } from 'yaml'

type Property = Record<string, unknown> & { minimum?: bigint | number; maximum?: bigint | number; maxLength?: bigint }
type Schema = { properties: Record<string, Property> }

const path = resolve(dirname(fileURLToPath(import.meta.url)), '../../../backend/openapi.yaml')

/** The request and answer schemas by name; integers as bigints (some exceed 2^53). */
export const schemas = (parse(readFileSync(path, 'utf8'), { intAsBigInt: true }) as { components: { schemas: Record<string, Schema> } })
  .components.schemas

/** One field of one schema. */
export function field(schema: string, name: string): Property {
  const property = schemas[schema]?.properties[name]
  if (!property) throw new Error(`backend/openapi.yaml has no ${schema}.${name}`)
  return property
}

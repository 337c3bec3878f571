/**
 * The layers of src/: a feature (src/features/<name>/) never imports another feature, and the
 * shared code (api, components, lib, styles, testing) imports no feature and not the app; what two
 * features need goes to the shared code. Read from the sources' import statements.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, it } from 'vitest'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SHARED = ['api', 'components', 'lib', 'styles', 'testing']

function files(folder: string): string[] {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name)
    if (statSync(path).isDirectory()) return files(path)
    return /\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

/** The src/-relative targets of a file's relative imports (static, dynamic, side-effect, re-export). */
function importsOf(path: string): string[] {
  const source = readFileSync(path, 'utf8')
  const found = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"](\.{1,2}\/[^'"]*)['"]/g)]
  return found.map((match) => relative(SRC, resolve(dirname(path), match[1]!)).split(sep).join('/'))
}

/** Where an src/-relative path belongs: `features/<name>`, `app`, a shared folder or the root. */
function layer(path: string): string {
  const [top, name] = path.split('/')
  return top === 'features' && name && !name.includes('.') ? `features/${name}` : (top ?? '')
}

it('keeps features apart and the shared code free of features', () => {
  const problems: string[] = []
  let imports = 0
  for (const path of files(SRC)) {
    const from = layer(relative(SRC, path).split(sep).join('/'))
    for (const target of importsOf(path)) {
      imports += 1
      const to = layer(target)
      const crossFeature = from.startsWith('features/') && to.startsWith('features/') && to !== from
      const sharedUp = SHARED.includes(from) && (to.startsWith('features/') || to === 'app')
      if (crossFeature || sharedUp) problems.push(`${relative(SRC, path)} imports ${target}`)
    }
  }
  expect(imports).toBeGreaterThan(100) // the imports were read at all
  expect(problems).toEqual([])
})

it('sees an import of another feature', () => {
  const path = join(SRC, 'features/deployments/components/Deployments.tsx')
  expect(importsOf(path)).toContain('features/deployments/api/deployments')
  expect(layer('features/models/api/models')).toBe('features/models')
  expect(layer('features/boundaries.test.ts')).toBe('features')
})

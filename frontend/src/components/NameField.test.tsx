import { expect, it } from 'vitest'
import { field } from '../testing/openapi'
import { NAME_MAX, nameProblem } from './NameField'

it('allows a name as long as the API allows for models and configurations alike', () => {
  expect(NAME_MAX).toBe(Number(field('ModelInputRequest', 'name').maxLength))
  expect(NAME_MAX).toBe(Number(field('ConfigurationInputRequest', 'name').maxLength))
  expect(nameProblem('n'.repeat(NAME_MAX), 'model')).toBe('')
  expect(nameProblem('n'.repeat(NAME_MAX + 1), 'model')).toBe(`At most ${NAME_MAX} characters.`)
  expect(nameProblem('  ', 'configuration')).toBe('Give the configuration a name.')
})

/** The training pages' route guard: the id in the address, or a not-found page when it names none. */
import type { ReactNode } from 'react'
import { useParams } from 'wouter'
import { Page } from '../../../components/Page'
import { ErrorNotice } from '../../../components/States'

export function TrainingRoute({ view: View }: { view: (props: { id: number }) => ReactNode }) {
  const params = useParams<{ id: string }>()
  const id = Number(params.id)
  if (!Number.isInteger(id) || id <= 0) {
    return (
      <Page title="Training not found">
        <ErrorNotice error="There is no such training." />
      </Page>
    )
  }
  return <View id={id} />
}
